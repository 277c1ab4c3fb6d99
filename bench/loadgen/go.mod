module bookpay.local/bench/loadgen

go 1.26
