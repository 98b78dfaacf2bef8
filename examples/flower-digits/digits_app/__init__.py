"""A Flower app: a small MLP on scikit-learn's digits, aggregated with secagg."""
