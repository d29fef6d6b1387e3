"""The managers' order form: sign-in, sessions and CSRF (``auth``), its Firestore state
(``stores``), the product picker (``catalogue``), the flows (``service``) and the pages
(``pages``, Jinja2 templates in ``templates/``). No Flask here: the HTTP adapter is
``orderhub.entrypoints.order_form``."""
