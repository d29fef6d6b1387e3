"""The stack contract: `up` twice is harmless; endpoints.env names every function."""

from devstack.stack import FUNCTIONS, Stack, read_env_file


def test_up_again_keeps_the_running_processes(stack):
    local = Stack.from_env()
    before = local.running()
    values = local.up()
    assert local.running() == before
    assert values == stack


def test_endpoints_file_lists_what_a_newcomer_needs(stack):
    written = read_env_file(Stack.from_env().endpoints_file)
    required = {
        "SHOPIFY_WEBHOOK_URL",
        "SHOPIFY_SHOP_DOMAIN",
        "SHOPIFY_API_SECRET",
        "PUBSUB_EMULATOR_HOST",
        "FIRESTORE_EMULATOR_HOST",
        "BIGQUERY_EMULATOR_HOST",
        "GOOGLE_CLOUD_PROJECT",
        "BIGQUERY_DATASET",
    }
    assert required <= set(written)
    assert all(f"{fn.name.upper()}_URL" in written for fn in FUNCTIONS)
    assert written["BIGQUERY_EMULATOR_HOST"].startswith("http://127.0.0.1:")
