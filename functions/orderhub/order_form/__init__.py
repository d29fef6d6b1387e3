"""``order_form``: the managers' CRM app and its order form, one Flask application.

``entry.handle`` dispatches every request to the app of ``app.create_app``, which registers
one blueprint per area. Blueprints hold routing and templates (one Jinja environment, one
layout: ``templates/layout.html``); the work is in plain modules.

=========  ======================  =================================================
GET        /                       the order form (signed-in; ``?customer_name=&phone=
                                   &email=&address=`` fill it in) or a redirect to /signin
POST       /                       save the order, or make a payment link (``action=link``)
GET        /new                    redirects to / (query kept)
GET/POST   /signin                 the sign-in page; signs in
POST       /signout                ends this device's session; ``/signout/everywhere``
                                   ends every session of the manager
GET        /products               the picker's search, JSON: ``?q=`` name or SKU
GET        /orders, /orders.json   the orders list (filters, saved views ``?view=``,
                                   search, pages, days); its JSON
POST       /orders/<id>/...        actions: ``status``, ``paid``, ``comments``, ``assign``,
                                   ``edit`` (address, note), ``items``
GET        /orders/<id>[/mail]     an order's page; the e-mail it came from, as text
GET        /customers?q=           customers by phone, e-mail or name
GET        /customers/<key>        a customer's page; /customers/lookup.json?phone=
GET/POST   /customers/<key>/edit   edit the customer (``customer.upserted`` from manual)
POST       /customers/<key>/send   "Send to Shopify now"; ``/delete`` deletes from the CRM
POST       /orders/<id>/send       "Send to Shopify now": the order's newest CRM version
POST       /customers/<key>/...    ``comments``: a comment on the customer
GET        /attention[/<id>]       what needs attention; one quarantined item
POST       /attention/<id>/handled mark handled; ``/replay`` reads a mail again
GET        /settings               owners only (403 otherwise); POST /settings/sync|notify
GET/POST   /services[/try|/build]  owners only: delivery services' e-mail rules (issue 25)
GET        /assets/...             the pages' scripts and stylesheets
=========  ======================  =================================================

Without a valid session nothing but the sign-in page and its assets is served: pages
redirect to /signin, everything else answers 401. Every POST carries a CSRF token (an
HMAC of the session id, or of a nonce cookie before sign-in); a missing or wrong one is
answered 403.

Modules:

* ``settings``, ``wiring`` (the real clients, cached), ``entry`` (dispatch only);
* ``app`` (``create_app``), ``pages`` (how a view answers: a page, a message, a redirect);
* blueprints: ``auth`` (sign-in, sign-out, the current manager, ``login_required``),
  ``form`` (the order form, the product search, payment links), ``views`` (orders,
  customers, attention, settings), ``records`` (a customer's edit and delete, "Send to
  Shopify now"), ``teamwork`` (assign, comments on customers, sign out everywhere);
* core, no Flask: ``sessions`` (passwords, signed sessions, CSRF tokens, backoff),
  ``client`` (the client address behind our proxies), ``stores`` (the form's Firestore
  state), ``service`` (sign in, record an order, make a payment link), ``catalogue`` (the
  product picker), ``queries`` (bounded BigQuery reads), ``worklist`` (the list's days,
  sources in words, who can be assigned), ``customer_notes`` (comments on customers),
  ``attention`` (marks, replay),
  ``admin`` (the owner's settings, audited), ``manage`` (``scripts/manager``),
  ``migrate_state`` (``scripts/migrate-app-state``),
  ``customer_edits`` (the customer form and its events), ``sync_state`` (each record's
  Shopify sync, an order's newest version);
* ``delivery_services`` (blueprint ``/services``) and ``rules_builder`` (its core: the
  builder's proposals and the stored mails it reads).

Everything the app writes is in its own Firestore database (``APP_DATABASE``, ``crm-app``;
docs/app-state.md); it reads the managers' database and holds nothing of the default one.
"""
