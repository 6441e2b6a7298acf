"""``python -m ops``: status, rearm and publish, against the emulators or a real project.

Examples::

    python -m ops status                         # every pipeline, heals in progress, open incidents, attempts, events
    python -m ops rearm orders --relaunch        # reset the budget and launch the next attempt
    python -m ops publish orders --count 20      # sample events (seeded generator)
    python -m ops smoke --project P --region R   # after deploy: resources, jobs, events end to end
    python -m ops dead-letter show MESSAGE_ID    # a dead letter: metadata and payload, sha256-checked
    python -m ops dead-letter replay --event-key K   # republish its exact bytes and attributes

Against a real project pass ``--project`` (and have application-default
credentials); against the emulators set ``FIRESTORE_EMULATOR_HOST`` /
``PUBSUB_EMULATOR_HOST`` as usual.  ``rearm --relaunch`` needs the launch
configuration: the JSON in ``RELAUNCHER_CONFIG`` (what the function is deployed
with; ``--launch-config FILE`` to read it from a file) and, locally,
``DATAFLOW_ENDPOINT``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipelines import system


def _project(args: argparse.Namespace) -> str:
    project = args.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        sys.exit("no project: pass --project or set GOOGLE_CLOUD_PROJECT")
    return project


def _settings(args: argparse.Namespace, project: str) -> dict:
    text = Path(args.launch_config).read_text() if args.launch_config else os.environ.get("RELAUNCHER_CONFIG")
    if not text:
        sys.exit("rearm --relaunch needs the launch configuration: --launch-config FILE or RELAUNCHER_CONFIG")
    settings = json.loads(text)
    if settings.get("project") != project:
        sys.exit(f"launch configuration is for project {settings.get('project')!r}, not {project!r}")
    return settings


def cmd_status(args: argparse.Namespace) -> int:
    from google.cloud import firestore

    from ops.audit import read_audit, render_audit

    db = firestore.Client(project=_project(args))
    audits = read_audit(db, system.system()["firestore"]["collection"], [args.pipeline] if args.pipeline else None)
    print(render_audit(audits, max_events=args.events))
    return 0


def cmd_rearm(args: argparse.Namespace) -> int:
    from google.cloud import firestore

    from ops.rearm import rearm

    project = _project(args)
    db = firestore.Client(project=project)
    if args.relaunch:
        settings = _settings(args, project)
    else:
        cfg = system.system()
        settings = {
            "project": project,
            "collection": cfg["firestore"]["collection"],
            "pipelines": {n: {} for n in cfg["pipelines"]},  # a plain re-arm needs no launch spec
        }
    endpoint = args.dataflow_endpoint or os.environ.get("DATAFLOW_ENDPOINT") or None
    result = rearm(db, settings, args.pipeline, relaunch=args.relaunch, endpoint=endpoint, operator=args.operator)
    print(
        f"{result.pipeline}: {result.detail}"
        + (f" ({result.launched_job_name}, {result.launched_job_id})" if result.launched_job_id else "")
    )
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from ops.publish import publish_sample

    counts = publish_sample(_project(args), args.topic, args.count, seed=args.seed)
    print(
        f"published {sum(counts.values())} to {args.topic}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    from google.cloud import dataflow_v1beta3 as dataflow
    from google.cloud import firestore, pubsub_v1

    from ops import smoke
    from pipelines import bq

    project = _project(args)
    target = smoke.Target(project, args.region, suffix=args.name_suffix)
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    endpoint = args.dataflow_endpoint or os.environ.get("DATAFLOW_ENDPOINT") or None
    if endpoint:  # the local Dataflow stand-in
        import grpc
        from google.cloud.dataflow_v1beta3.services.jobs_v1_beta3.transports import JobsV1Beta3GrpcTransport

        jobs = dataflow.JobsV1Beta3Client(transport=JobsV1Beta3GrpcTransport(channel=grpc.insecure_channel(endpoint)))
    else:
        jobs = dataflow.JobsV1Beta3Client()
    if args.local_relauncher_url:
        probe: smoke.RelauncherProbe = smoke.LocalRelauncherProbe(
            args.local_relauncher_url, args.local_events_subscription, subscriber
        )
    else:
        probe = smoke.CloudRelauncherProbe()
    try:
        checks = smoke.run_smoke(
            target,
            relauncher=probe,
            publisher=publisher,
            subscriber=subscriber,
            bq=bq.make_client(project),
            db=firestore.Client(project=project),
            jobs=jobs,
            timeout=args.timeout,
        )
    finally:
        subscriber.close()
    failed = [c for c in checks if not c.ok]
    print(f"smoke: {len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cmd_dead_letter(args: argparse.Namespace) -> int:
    from ops import dead_letter
    from pipelines import bq

    if (args.message_id is None) == (args.event_key is None):
        sys.exit("dead-letter: give a MESSAGE_ID or --event-key (not both)")
    project = _project(args)
    client = bq.make_client(project)
    try:
        letters = dead_letter.find(client, project, args.dataset, message_id=args.message_id, event_key=args.event_key)
        if args.action == "show":
            print("\n\n".join(dead_letter.describe(letter) for letter in letters))
            if args.output:
                Path(args.output).write_bytes(dead_letter.replayable(letters).payload or b"")
            return 0 if all(letter.ok for letter in letters) else 1
        from google.cloud import pubsub_v1

        letter = dead_letter.replayable(letters)
        message_id = dead_letter.replay(pubsub_v1.PublisherClient(), project, letter)
        print(f"replayed {len(letter.payload or b'')} bytes (sha256 {letter.sha256}) as message {message_id}")
        return 0
    except dead_letter.DeadLetterError as e:
        print(f"dead-letter {args.action}: {e}", file=sys.stderr)
        return 1
    finally:
        client.close()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m ops",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--project", help="Google Cloud project (default: $GOOGLE_CLOUD_PROJECT)")
    sub = ap.add_subparsers(dest="command", required=True)

    st = sub.add_parser(
        "status", help="pipelines' state, heals in progress, open incidents and audit trail from Firestore"
    )
    st.add_argument("pipeline", nargs="?", choices=system.pipeline_names(), help="one pipeline (default: all)")
    st.add_argument("--events", type=int, default=20, help="show at most this many recent events per pipeline")
    st.set_defaults(func=cmd_status)

    ra = sub.add_parser(
        "rearm", help="reset an exhausted pipeline's retry budget; --relaunch launches its next attempt"
    )
    ra.add_argument("pipeline", choices=system.pipeline_names())
    ra.add_argument("--relaunch", action="store_true", help="also launch the next attempt from the flex template")
    ra.add_argument("--launch-config", help="file with the RELAUNCHER_CONFIG JSON (default: $RELAUNCHER_CONFIG)")
    ra.add_argument("--dataflow-endpoint", help="host:port of a local Dataflow stand-in (default: $DATAFLOW_ENDPOINT)")
    ra.add_argument("--operator", default=os.environ.get("USER", "ops CLI"), help="who re-armed it (for the audit)")
    ra.set_defaults(func=cmd_rearm)

    pu = sub.add_parser("publish", help="publish sample events from the seeded generator")
    pu.add_argument("topic", choices=sorted(p["topic"] for p in system.system()["pipelines"].values()))
    pu.add_argument("--count", type=int, default=10)
    pu.add_argument("--seed", type=int, default=7)
    pu.set_defaults(func=cmd_publish)

    sm = sub.add_parser(
        "smoke", help="after deploy: function, trigger, topics, tables, running jobs, events end to end"
    )
    # Also accepted after the verb (`python -m ops smoke --project P --region R`); SUPPRESS keeps
    # a --project given before the verb.
    sm.add_argument("--project", default=argparse.SUPPRESS, help="Google Cloud project (as before the verb)")
    sm.add_argument("--region", required=True, help="region of the jobs, the function and its trigger")
    sm.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the test events' rows")
    sm.add_argument("--dataflow-endpoint", help="host:port of a local Dataflow stand-in (default: $DATAFLOW_ENDPOINT)")
    sm.add_argument("--local-relauncher-url", help="local stack: the relauncher's functions-framework URL")
    sm.add_argument(
        "--local-events-subscription",
        default="dataflow-job-events-to-relauncher",
        help="local stack: its push subscription",
    )
    sm.add_argument("--name-suffix", default="", help=argparse.SUPPRESS)  # shared local emulators (tests)
    sm.set_defaults(func=cmd_smoke)

    dl = sub.add_parser(
        "dead-letter", help="show or replay a dead letter (reassembled from its chunks, sha256-checked)"
    )
    dl.add_argument("action", choices=("show", "replay"))
    dl.add_argument("message_id", nargs="?", help="Pub/Sub message id of the dead-lettered message")
    dl.add_argument("--event-key", help="sha256 of the payload, for dead letters without a message id")
    dl.add_argument("--dataset", default=system.dataset(), help="BigQuery dataset (default: %(default)s)")
    dl.add_argument("--output", help="show: also write the exact payload bytes to this file")
    dl.set_defaults(func=cmd_dead_letter)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
