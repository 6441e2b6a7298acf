terraform {
  # Pure data module: no provider, so tests can evaluate it offline with `terraform apply`.
  required_version = ">= 1.5"
}
