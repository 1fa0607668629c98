"""Records -> outputs: boards, captions, families, significance, ranks across boards,
literature tables, figures, publication and the static site."""
