"""The Shopify Admin API, shared: the client and its settings (``admin``, ``settings``), cost-paced
GraphQL calls (``graphql``), the sync's writes (``writer``) and the marks that name our own
writes (``markers``)."""
