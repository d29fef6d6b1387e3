"""The chat-bot leg: ManyChat → OrderHub, and the bot's catalogue from the CRM.

ManyChat's External Request and Dynamic Block actions call the ``chatbot`` HTTP function
(``orderhub.chatbot.entry``) with a shared secret in a header (ManyChat signs
nothing). Two routes:

* ``POST /contacts``: a contact, in either of ManyChat's shapes, becomes a
  ``contact.touched`` event on ``order-events`` (``contacts.receive``); crm_writer keeps
  it in ``contact_events`` (the ``contacts`` view: one row per contact), the notifier tells
  the managers of a new contact once. Bad input: 400 with a short reason, the body kept in
  quarantine.
* ``POST /catalogue``: ManyChat Dynamic Block v2 ``cards`` built from the ``products``
  view, kept in memory for a short while (``catalogue``); each product link carries the
  contact's id, so an order placed through it is attributed to the chat.

Plain code: the entry point passes the collaborators (publisher, product loader, clock).
"""
