// loadgen: GET one or more URLs with N workers on keep-alive connections for a duration, then
// print one JSON object: requests, errors, status counts, requests per second and latency
// percentiles. Standard library only.
//
//	go run . -workers 32 -duration 15s http://127.0.0.1:19003/pay/<token> ...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type result struct {
	Workers      int            `json:"workers"`
	Seconds      float64        `json:"seconds"`
	Count        int            `json:"count"`
	OK           int            `json:"ok"`
	Errors       int            `json:"errors"`
	Statuses     map[string]int `json:"statuses"`
	RPS          float64        `json:"rps"`
	P50Ms        float64        `json:"p50_ms"`
	P90Ms        float64        `json:"p90_ms"`
	P99Ms        float64        `json:"p99_ms"`
	MaxMs        float64        `json:"max_ms"`
	BytesPerResp float64        `json:"bytes_per_response"`
}

type worker struct {
	latencies []time.Duration
	statuses  map[int]int
	errors    int
	bytes     int64
}

func main() {
	workers := flag.Int("workers", 16, "concurrent workers, each with its own keep-alive connection")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	warmup := flag.Duration("warmup", time.Second, "requests in this first period are not counted")
	header := flag.String("header", "", "an extra request header, 'Name: value'")
	timeout := flag.Duration("timeout", 10*time.Second, "per request")
	flag.Parse()
	urls := flag.Args()
	if len(urls) == 0 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "usage: loadgen [-workers N] [-duration D] URL...")
		os.Exit(2)
	}
	headerName, headerValue, _ := strings.Cut(*header, ":")
	headerName, headerValue = strings.TrimSpace(headerName), strings.TrimSpace(headerValue)
	transport := &http.Transport{
		MaxIdleConns:        *workers,
		MaxIdleConnsPerHost: *workers,
		MaxConnsPerHost:     *workers,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: transport, Timeout: *timeout}

	start := time.Now()
	countFrom := start.Add(*warmup)
	stop := countFrom.Add(*duration)
	results := make([]*worker, *workers)
	var wg sync.WaitGroup
	for i := range results {
		w := &worker{statuses: map[int]int{}}
		results[i] = w
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			for k := n; ; k++ {
				sent := time.Now()
				if !sent.Before(stop) {
					return
				}
				req, err := http.NewRequest(http.MethodGet, urls[k%len(urls)], nil)
				if err != nil {
					panic(err)
				}
				if headerName != "" {
					req.Header.Set(headerName, headerValue)
				}
				resp, err := client.Do(req)
				var size int64
				status := 0
				if err == nil {
					size, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				if sent.Before(countFrom) {
					continue
				}
				if err != nil {
					w.errors++
					continue
				}
				w.latencies = append(w.latencies, time.Since(sent))
				w.statuses[status]++
				w.bytes += size
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(countFrom).Seconds()

	var all []time.Duration
	statuses := map[string]int{}
	out := result{Workers: *workers, Seconds: round(elapsed), Statuses: statuses}
	var bytes int64
	for _, w := range results {
		all = append(all, w.latencies...)
		out.Errors += w.errors
		bytes += w.bytes
		for code, n := range w.statuses {
			statuses[strconv.Itoa(code)] += n
			if code == http.StatusOK {
				out.OK += n
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	out.Count = len(all)
	if elapsed > 0 {
		out.RPS = round(float64(len(all)) / elapsed)
	}
	if len(all) > 0 {
		out.P50Ms = ms(percentile(all, 0.50))
		out.P90Ms = ms(percentile(all, 0.90))
		out.P99Ms = ms(percentile(all, 0.99))
		out.MaxMs = ms(all[len(all)-1])
		out.BytesPerResp = round(float64(bytes) / float64(len(all)))
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(out); err != nil {
		panic(err)
	}
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted))+0.999999) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(sorted) {
		rank = len(sorted) - 1
	}
	return sorted[rank]
}

func ms(d time.Duration) float64 { return round(float64(d.Microseconds()) / 1000) }

func round(x float64) float64 {
	return float64(int64(x*100+0.5)) / 100
}
