using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

// Closed-loop HTTP load generator: C clients, each posting the same body back to back for a fixed time
// after a warm-up; prints one JSON line (requests/s, p50, p99, errors, mean merged latency), like the Python
// peer's loadgen.py, so the service and the peer are measured by the same client.
// Usage: Uncertainty.LoadGenerator URL --clients 32 --seconds 10 --warmup 2 --body JSON [--max-requests N]
var url = args[0];
string Option(string name, string fallback) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
var clients = int.Parse(Option("--clients", "32"));
var seconds = double.Parse(Option("--seconds", "10"), System.Globalization.CultureInfo.InvariantCulture);
var warmup = double.Parse(Option("--warmup", "2"), System.Globalization.CultureInfo.InvariantCulture);
var maxRequests = long.Parse(Option("--max-requests", "1000000"));
var body = Encoding.UTF8.GetBytes(Option("--body", "{}"));

using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = clients, PooledConnectionLifetime = Timeout.InfiniteTimeSpan, UseProxy = false };
using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
var clock = Stopwatch.StartNew();
var measureFrom = warmup;
var stopAt = warmup + seconds;
var latencies = new List<double>[clients];
var errors = new int[clients];
long sent = 0;

async Task Client(int id)
{
    latencies[id] = new List<double>(1 << 14);
    while (clock.Elapsed.TotalSeconds < stopAt && Interlocked.Increment(ref sent) <= maxRequests)
    {
        var started = clock.Elapsed.TotalSeconds;
        bool ok;
        try
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync(url, content);
            await response.Content.ReadAsByteArrayAsync();
            ok = response.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            ok = false;
        }

        var finished = clock.Elapsed.TotalSeconds;
        if (started >= measureFrom)
        {
            if (ok)
            {
                latencies[id].Add(finished - started);
            }
            else
            {
                errors[id]++;
            }
        }
    }
}

await Task.WhenAll(Enumerable.Range(0, clients).Select(id => Task.Run(() => Client(id))));
var measured = Math.Min(seconds, clock.Elapsed.TotalSeconds - measureFrom);
var all = latencies.SelectMany(l => l).Order().ToArray();
double? Percentile(double q) => all.Length == 0 ? null : Math.Round(all[Math.Min(all.Length - 1, (int)(q * all.Length))] * 1000, 3);
Console.WriteLine(JsonSerializer.Serialize(new
{
    clients,
    requests = all.Length,
    errors = errors.Sum(),
    rps = Math.Round(all.Length / measured, 1),
    p50_ms = Percentile(0.5),
    p99_ms = Percentile(0.99),
}));
