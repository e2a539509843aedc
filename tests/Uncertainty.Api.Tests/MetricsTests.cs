using System.Globalization;
using System.Net;
using System.Net.Http.Json;

namespace Uncertainty.Api.Tests;

/// <summary>The Prometheus scrape: per-model and per-version families (after Triton's), and none of the runtime noise.</summary>
public sealed class MetricsTests
{
    private static readonly object ToyRequest = new { inputs = new[] { new[] { 0.0 }, new[] { 0.5 } }, samples = 10, seed = 1 };

    private const string Toy = "model=\"toy\",version=\"1\"";

    [Fact]
    public async Task The_scrape_has_the_per_model_families_and_process_metrics_and_none_of_the_runtime_noise()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        await client.PostAsJsonAsync("/models/toy/predict", ToyRequest);

        var text = await client.GetStringAsync("/metrics");

        var families = text.Split('\n').Where(line => line.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(line => line.Split(' ')[2]).ToList();
        foreach (var family in new[]
        {
            "uncertainty_inference_request_success_total", "uncertainty_inference_request_failure_total", "uncertainty_inference_request_duration_seconds",
            "uncertainty_inference_queue_duration_seconds", "uncertainty_inference_compute_duration_seconds", "uncertainty_inference_exec_total",
            "uncertainty_inference_rows_total", "uncertainty_mc_samples_total", "uncertainty_merged_batch_requests", "uncertainty_merged_batch_rows",
            "uncertainty_model_loaded", "uncertainty_model_weight_bytes", "uncertainty_model_load_failures_total", "uncertainty_inference_queue_depth",
            "uncertainty_rejected_requests_total", "uncertainty_training_jobs_total", "uncertainty_training_jobs_running",
            "http_request_duration_seconds", "process_cpu_seconds_total", "process_working_set_bytes", "dotnet_total_memory_bytes", "dotnet_collection_count_total",
        })
        {
            Assert.Contains(family, families);
        }

        // Nothing else: the event counters and meters prometheus-net re-exports by default (msquic, kestrel, runtime) are dropped.
        Assert.All(families, family => Assert.True(
            family.StartsWith("uncertainty_", StringComparison.Ordinal) || family.StartsWith("http_", StringComparison.Ordinal)
            || family.StartsWith("process_", StringComparison.Ordinal) || family.StartsWith("dotnet_", StringComparison.Ordinal),
            $"{family} is runtime noise"));
        Assert.True(families.Count < 40, $"{families.Count} families");
        Assert.Contains($"uncertainty_inference_compute_duration_seconds_bucket{{{Toy},le=", text, StringComparison.Ordinal);
        Assert.Equal(1, Value(text, $"uncertainty_model_loaded{{{Toy}}}"));
        Assert.True(Value(text, $"uncertainty_model_weight_bytes{{{Toy}}}") > 0);
    }

    [Fact]
    public async Task A_prediction_counts_in_its_model_and_version_series_and_a_rejected_one_as_a_4xx_failure()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var before = await client.GetStringAsync("/metrics");

        var ok = await client.PostAsJsonAsync("/models/toy/predict", ToyRequest);
        var bad = await client.PostAsJsonAsync("/models/toy/predict", new { inputs = new[] { new[] { 0.0, 1.0 } } });
        var after = await client.GetStringAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        await Problems.ReadAsync(bad, HttpStatusCode.BadRequest);
        double Delta(string series) => Value(after, series) - Value(before, series);
        Assert.Equal(1, Delta($"uncertainty_inference_request_success_total{{{Toy}}}"));
        Assert.Equal(1, Delta($"uncertainty_inference_request_failure_total{{{Toy},status_class=\"4xx\"}}"));
        Assert.Equal(0, Delta($"uncertainty_inference_request_failure_total{{{Toy},status_class=\"5xx\"}}"));
        Assert.Equal(2, Delta($"uncertainty_inference_request_duration_seconds_count{{{Toy}}}"));
        Assert.Equal(1, Delta($"uncertainty_inference_queue_duration_seconds_count{{{Toy}}}"));
        Assert.Equal(1, Delta($"uncertainty_inference_exec_total{{{Toy}}}"));
        Assert.Equal(2, Delta($"uncertainty_inference_rows_total{{{Toy}}}"));
        Assert.Equal(10, Delta($"uncertainty_mc_samples_total{{{Toy}}}"));
        Assert.Equal(20, Delta($"uncertainty_merged_batch_rows_sum{{{Toy}}}"));
        Assert.Equal(0, Delta($"uncertainty_inference_request_success_total{{model=\"boston\",version=\"1\"}}"));
    }

    [Fact]
    public async Task A_method_http_does_not_define_is_a_501_and_adds_no_series_to_the_scrape()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        using var invented = await client.SendAsync(new HttpRequestMessage(new HttpMethod("ZZMETHOD1"), "/models/toy/predict"));
        using var unrouted = await client.SendAsync(new HttpRequestMessage(new HttpMethod("ZZMETHOD2"), "/no-such-path"));
        var text = await client.GetStringAsync("/metrics");

        await Problems.ReadAsync(invented, HttpStatusCode.NotImplemented);
        Assert.Equal(HttpStatusCode.NotImplemented, unrouted.StatusCode);
        Assert.DoesNotContain("ZZMETHOD", text, StringComparison.Ordinal);
    }

    /// <summary>The value of one series in a scrape; 0 when it has not appeared yet (a labelled series appears on first use).</summary>
    private static double Value(string scrape, string series) =>
        scrape.Split('\n').FirstOrDefault(line => line.StartsWith(series + " ", StringComparison.Ordinal)) is { } line
            ? double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture)
            : 0;
}
