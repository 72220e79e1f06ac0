"""The fallback: find tasks whose callbacks never came, and recover them by querying the provider.

- `tracking`: which tasks we watch (first event, user registration, sweep) and their deadlines;
- `providers`: one adapter per dialect over its query client (query one task, list tasks, pull events);
- `ratelimit`: the provider account's token bucket, shared through the store;
- `scheduler`: the loop that queries overdue tasks (oldest deadline first, with backoff) and decides `lost`;
- `batch`: one listing request for several due tasks of a source, so the ones still running need no query;
- `sweep`: discovery through the provider's task listing, with a cursor in the store;
- `pull`: reliable-callback mode (pull, capture durably, normalize, only then confirm).
"""
