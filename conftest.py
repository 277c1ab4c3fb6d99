pytest_plugins = ["bookpay_devstack.pytest_plugin"]
