"""Entry-point adapters: decode the request or CloudEvent, wire real collaborators, map
outcomes to status codes. The only modules that know about Flask or CloudEvents."""
