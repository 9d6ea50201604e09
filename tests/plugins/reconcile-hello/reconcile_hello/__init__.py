"""reconcile-hello: greetings pinned on a board (a directory named by $HELLO_BOARD)."""
