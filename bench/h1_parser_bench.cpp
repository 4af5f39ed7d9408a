// HTTP/1 parser microbenchmarks: the per-request cost of parse_request_head on a realistic
// browser GET and a small API request, a response head, and chunked decoding. Bytes processed
// are reported so the output shows throughput next to ns/request.
#include <benchmark/benchmark.h>

#include <string>

#include "http/h1/parser.hpp"

namespace {

using usher::http::RequestHead;
using usher::http::ResponseHead;
using usher::http::h1::ChunkedDecoder;
using usher::http::h1::ParserLimits;

// ~700 bytes, 12 fields: what a desktop browser sends for a page navigation.
const std::string kBrowserGet =
    "GET /products/category/shoes?color=black&size=42&sort=price_asc HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: "
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://shop.example.com/products/category/shoes?color=black\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; consent=1; "
    "_ga=GA1.2.1234567890.1700000000; cart=3f9a\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "\r\n";

const std::string kApiPost =
    "POST /v1/orders HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 27\r\n"
    "Accept: application/json\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Date: Mon, 27 Nov 2023 10:00:00 GMT\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Length: 12345\r\n"
    "Cache-Control: private, max-age=0\r\n"
    "ETag: \"5e1f-abc\"\r\n"
    "Vary: Accept-Encoding\r\n"
    "Server: backend\r\n"
    "\r\n";

void parse_request(benchmark::State& state, const std::string& raw) {
    const ParserLimits limits;
    RequestHead head;
    for (auto _ : state) {
        auto r = usher::http::h1::parse_request_head(raw, limits, head);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(head);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(raw.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_ParseBrowserGet(benchmark::State& state) {
    parse_request(state, kBrowserGet);
}
BENCHMARK(BM_ParseBrowserGet);

void BM_ParseApiPost(benchmark::State& state) {
    parse_request(state, kApiPost);
}
BENCHMARK(BM_ParseApiPost);

void BM_ParseResponse(benchmark::State& state) {
    const ParserLimits limits;
    ResponseHead head;
    for (auto _ : state) {
        auto r = usher::http::h1::parse_response_head(kResponse, limits, "GET", head);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(head);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(kResponse.size()));
}
BENCHMARK(BM_ParseResponse);

// 64 KiB body in 4 KiB chunks: the decoder's per-chunk overhead.
void BM_DecodeChunked(benchmark::State& state) {
    std::string body;
    for (int i = 0; i < 16; ++i) {
        body += "1000\r\n" + std::string(4096, 'x') + "\r\n";
    }
    body += "0\r\n\r\n";
    for (auto _ : state) {
        ChunkedDecoder decoder;
        std::string_view rest = body;
        std::size_t payload = 0;
        for (;;) {
            const auto step = decoder.decode(rest);
            rest.remove_prefix(step.consumed);
            payload += step.data.size();
            if (step.kind != ChunkedDecoder::Step::Kind::data) {
                break;
            }
        }
        benchmark::DoNotOptimize(payload);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_DecodeChunked);

}  // namespace
