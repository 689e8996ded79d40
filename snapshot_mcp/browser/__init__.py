"""The browser face of a deletion request: the person's own browser, on a page this server serves on loopback.

- `opener`: whether and how this machine opens the person's graphical browser, and
  opening it without lending it the server's stdio;
- `page`: the page's HTTP rules (routes, Host and Origin checks, headers) and `page.html`;
- `listener`: the loopback listener, started on first use and closed when nothing it
  served is pending.

What a decision means (the deletion request, its secret, the delete) is the
confirmation core's (`confirm.browser`).
"""
