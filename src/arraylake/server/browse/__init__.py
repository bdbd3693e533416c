"""Looking inside a repo on the service, for the web app: its tree, history, diffs and data, read from
storage with the viewer's own read access (credentials vended for that viewer, never the service's)."""
