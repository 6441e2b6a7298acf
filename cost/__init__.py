"""Monthly orchestration cost: the original 30-second polling design against this event-driven one."""
