using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Observability;

namespace Uncertainty.Api.Tests;

/// <summary>Traces: a request's spans on the inference thread are children of its server span, in the caller's trace.</summary>
public sealed class TelemetryTests
{
    private static object Body(double x, int samples = 20, int seed = 1) => new { inputs = new[] { new[] { x } }, samples, seed };

    [Fact]
    public async Task A_prediction_with_a_traceparent_gets_queue_wait_batch_and_forward_pass_spans_under_its_server_span()
    {
        var spans = new SpanCollection();
        using var factory = new UncertaintyApiFactory { Spans = spans };
        var client = await factory.ReadyClientAsync();
        var (trace, caller) = (ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom());

        var response = await client.SendAsync(Traced("/models/toy/predict", Body(0.5, samples: 20), trace, caller));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var mine = await SpansAsync(spans, trace, Telemetry.Spans.Batch, Telemetry.Spans.ForwardPass, Telemetry.Spans.QueueWait);
        var server = mine.Single(s => s.Kind == ActivityKind.Server);
        var queue = mine.Single(s => s.OperationName == Telemetry.Spans.QueueWait);
        var batch = mine.Single(s => s.OperationName == Telemetry.Spans.Batch);
        var pass = mine.Single(s => s.OperationName == Telemetry.Spans.ForwardPass);
        Assert.Equal(caller, server.ParentSpanId);
        Assert.Equal(server.SpanId, queue.ParentSpanId);
        Assert.Equal(server.SpanId, batch.ParentSpanId);
        Assert.Equal(batch.SpanId, pass.ParentSpanId);
        Assert.Contains(batch.Links, link => link.Context.SpanId == server.SpanId);
        foreach (var span in new[] { queue, batch, pass })
        {
            Assert.Equal("toy", span.GetTagItem(Telemetry.Attributes.Model));
            Assert.Equal(1, span.GetTagItem(Telemetry.Attributes.Version));
        }

        Assert.Equal(1, batch.GetTagItem(Telemetry.Attributes.MergedRequests));
        Assert.Equal(1, pass.GetTagItem(Telemetry.Attributes.Rows));
        Assert.Equal(20L, pass.GetTagItem(Telemetry.Attributes.Samples));
        Assert.True(queue.StartTimeUtc <= batch.StartTimeUtc && pass.StartTimeUtc + pass.Duration <= server.StartTimeUtc + server.Duration, "queue wait, then the pass, within the request");
    }

    [Fact]
    public async Task A_merged_batch_is_linked_to_every_request_it_serves_and_each_request_keeps_its_own_queue_wait()
    {
        var spans = new SpanCollection();
        using var factory = new UncertaintyApiFactory { Spans = spans };
        factory.Settings["Uncertainty:BatchDelayMilliseconds"] = "5";
        var client = await factory.ReadyClientAsync();
        var worker = factory.Services.GetRequiredService<InferenceScheduler>();
        var traces = new[] { ActivityTraceId.CreateRandom(), ActivityTraceId.CreateRandom() };

        // Both wait in the paused queue, so the owner takes them into one batch.
        worker.Pause();
        var pending = traces.Select((trace, i) => client.SendAsync(Traced("/models/toy/predict", Body(i, seed: i), trace, ActivitySpanId.CreateRandom()))).ToList();
        while (worker.QueueLength < traces.Length)
        {
            await Task.Delay(5);
        }

        worker.Resume();
        var responses = await Task.WhenAll(pending);

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var both = await WhenAsync(spans, all => all.Where(s => traces.Contains(s.TraceId)).ToList() is var mine
            && mine.Count(s => s.Kind == ActivityKind.Server) == 2 && mine.Count(s => s.OperationName == Telemetry.Spans.QueueWait) == 2
            && mine.Any(s => s.OperationName == Telemetry.Spans.Batch) ? mine : null);
        var batch = Assert.Single(both, s => s.OperationName == Telemetry.Spans.Batch);
        Assert.Equal(2, batch.GetTagItem(Telemetry.Attributes.MergedRequests));
        var servers = both.Where(s => s.Kind == ActivityKind.Server).ToList();
        Assert.Equal(servers.Select(s => s.SpanId.ToHexString()).Order(), batch.Links.Select(l => l.Context.SpanId.ToHexString()).Order());
        Assert.Contains(servers, s => s.SpanId == batch.ParentSpanId);
        Assert.All(servers, server => Assert.Single(both, s => s.OperationName == Telemetry.Spans.QueueWait && s.ParentSpanId == server.SpanId));
    }

    [Fact]
    public async Task A_large_request_run_a_chunk_at_a_time_keeps_its_spans_open_over_all_its_chunks()
    {
        var spans = new SpanCollection();
        using var factory = new UncertaintyApiFactory { Spans = spans };
        factory.Settings["Uncertainty:MaxChunkElements"] = "1024"; // a few dozen toy rows a chunk: 1000 samples take many
        var client = await factory.ReadyClientAsync();
        var trace = ActivityTraceId.CreateRandom();

        var response = await client.SendAsync(Traced("/models/toy/predict", Body(0.25, samples: 1000), trace, ActivitySpanId.CreateRandom()));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var mine = await SpansAsync(spans, trace, Telemetry.Spans.Batch, Telemetry.Spans.ForwardPass);
        var server = mine.Single(s => s.Kind == ActivityKind.Server);
        var batch = mine.Single(s => s.OperationName == Telemetry.Spans.Batch);
        var pass = mine.Single(s => s.OperationName == Telemetry.Spans.ForwardPass);
        Assert.Equal(server.SpanId, batch.ParentSpanId);
        Assert.Equal(batch.SpanId, pass.ParentSpanId);
        Assert.Equal(1000L, pass.GetTagItem(Telemetry.Attributes.Samples));
        Assert.True(pass.GetTagItem(Telemetry.Attributes.Chunks) is int chunks && chunks > 1, $"chunks: {pass.GetTagItem(Telemetry.Attributes.Chunks)}");
        Assert.Equal(pass.GetTagItem(Telemetry.Attributes.Chunks), batch.GetTagItem(Telemetry.Attributes.Chunks));
    }

    [Fact]
    public async Task Probes_and_scrapes_make_no_spans()
    {
        var spans = new SpanCollection();
        using var factory = new UncertaintyApiFactory { Spans = spans };
        var client = await factory.ReadyClientAsync();
        var trace = ActivityTraceId.CreateRandom();

        await client.SendAsync(Traced("/health/ready", null, trace, ActivitySpanId.CreateRandom(), HttpMethod.Get));
        await client.SendAsync(Traced("/metrics", null, trace, ActivitySpanId.CreateRandom(), HttpMethod.Get));
        await client.SendAsync(Traced("/models/toy/predict", Body(0.0), trace, ActivitySpanId.CreateRandom()));

        var mine = await SpansAsync(spans, trace, Telemetry.Spans.ForwardPass);
        var server = Assert.Single(mine, s => s.Kind == ActivityKind.Server);
        Assert.Contains("/models/", server.DisplayName, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_otlp_endpoint_stops_start_up_naming_the_setting()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings[Telemetry.OtlpEndpointKey] = "collector:4317";

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains(Telemetry.OtlpEndpointKey, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_an_otlp_endpoint_configured_the_service_serves_while_the_collector_is_unreachable()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings[Telemetry.OtlpEndpointKey] = "http://127.0.0.1:9";
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/models/toy/predict", Body(0.0));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new Uri("http://127.0.0.1:9"), factory.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<TelemetryOptions>>().Value.OtlpEndpoint);
    }

    [Fact]
    public async Task A_training_job_gets_one_span_with_its_model_epochs_and_final_state()
    {
        var spans = new SpanCollection();
        using var factory = new UncertaintyApiFactory { Spans = spans };
        var client = await factory.ReadyClientAsync();

        var submitted = await client.PostAsJsonAsync("/training-jobs", new { model = "traced", dataset = "boston", training = new { epochs = 2 } });
        var job = await ServingCoreTests.FinishedJobAsync(client, submitted);

        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        var training = (await WhenAsync(spans, all => all.Where(s => s.OperationName == Telemetry.Spans.TrainingJob).ToList() is { Count: > 0 } found ? found : null)).Single();
        Assert.Equal("traced", training.GetTagItem(Telemetry.Attributes.Model));
        Assert.Equal(2, training.GetTagItem(Telemetry.Attributes.Epochs));
        Assert.Equal("succeeded", training.GetTagItem(Telemetry.Attributes.State));
        Assert.Equal(job.GetProperty("id").GetString(), training.GetTagItem(Telemetry.Attributes.Job));
        Assert.Equal(1, training.GetTagItem(Telemetry.Attributes.Version));
    }

    private static HttpRequestMessage Traced(string path, object? body, ActivityTraceId trace, ActivitySpanId caller, HttpMethod? method = null)
    {
        var request = new HttpRequestMessage(method ?? HttpMethod.Post, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Add("traceparent", $"00-{trace}-{caller}-01");
        return request;
    }

    /// <summary>
    /// The spans of <paramref name="trace"/> once the server span and <paramref name="names"/> have ended: the owner thread closes
    /// its spans just after answering, so they may land a moment after the response. Waits on completion, not on a duration.
    /// </summary>
    private static Task<List<Activity>> SpansAsync(SpanCollection spans, ActivityTraceId trace, params string[] names) =>
        WhenAsync(spans, all => all.Where(s => s.TraceId == trace).ToList() is var mine
            && mine.Any(s => s.Kind == ActivityKind.Server) && names.All(name => mine.Any(s => s.OperationName == name)) ? mine : null);

    private static async Task<List<Activity>> WhenAsync(SpanCollection spans, Func<List<Activity>, List<Activity>?> done)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            if (done(spans.Snapshot()) is { } found)
            {
                return found;
            }

            await Task.Delay(10);
        }

        throw new TimeoutException("The expected spans did not all end within 10 s.");
    }
}

/// <summary>The in-memory exporter's target: spans end on several threads (requests, the inference owner).</summary>
public sealed class SpanCollection : ICollection<Activity>
{
    private readonly List<Activity> spans = [];

    public int Count
    {
        get
        {
            lock (spans)
            {
                return spans.Count;
            }
        }
    }

    public bool IsReadOnly => false;

    public List<Activity> Snapshot()
    {
        lock (spans)
        {
            return [.. spans];
        }
    }

    public void Add(Activity item)
    {
        lock (spans)
        {
            spans.Add(item);
        }
    }

    public void Clear()
    {
        lock (spans)
        {
            spans.Clear();
        }
    }

    public bool Contains(Activity item) => Snapshot().Contains(item);

    public void CopyTo(Activity[] array, int arrayIndex) => Snapshot().CopyTo(array, arrayIndex);

    public bool Remove(Activity item)
    {
        lock (spans)
        {
            return spans.Remove(item);
        }
    }

    public IEnumerator<Activity> GetEnumerator() => Snapshot().GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
