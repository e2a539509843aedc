using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Uncertainty.Api.Health;

namespace Uncertainty.Api.Tests;

/// <summary>The probes as ASP.NET Core health checks: the same report for the service's HealthCheckService and for /health/ready.</summary>
public sealed class HealthCheckTests
{
    [Fact]
    public async Task Readiness_runs_the_service_check_and_the_models_check_with_each_models_state()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        var report = await factory.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(check => check.Tags.Contains(HealthApi.ReadyTag));
        var ready = await client.GetFromJsonAsync<JsonElement>("/health/ready");

        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.Equal(new[] { ModelsHealthCheck.Name, ServiceHealthCheck.Name }, report.Entries.Keys.Order());
        var models = report.Entries[ModelsHealthCheck.Name].Data;
        Assert.Equal("loaded", models["model:toy"]);
        Assert.Equal("loaded", models["model:boston"]);
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        Assert.Equal(
            ((IReadOnlyList<Uncertainty.Api.Inference.ModelHealth>)models[ModelsHealthCheck.ModelsKey]).Select(m => m.Name),
            ready.GetProperty("models").EnumerateArray().Select(m => m.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task The_service_check_is_unhealthy_while_starting_and_draining_and_healthy_in_between()
    {
        using var factory = new UncertaintyApiFactory();
        await factory.ReadyClientAsync();
        var scheduler = factory.Services.GetRequiredService<Uncertainty.Api.Inference.InferenceScheduler>();
        var state = new Uncertainty.Api.Hosting.ServiceState();
        var check = new ServiceHealthCheck(state, scheduler);

        var starting = await check.CheckHealthAsync(new HealthCheckContext());
        state.MarkStarted();
        var serving = await check.CheckHealthAsync(new HealthCheckContext());
        state.MarkDraining();
        var draining = await check.CheckHealthAsync(new HealthCheckContext());

        Assert.Equal((HealthStatus.Unhealthy, "starting"), (starting.Status, starting.Description));
        Assert.Equal(HealthStatus.Healthy, serving.Status);
        Assert.Equal((HealthStatus.Unhealthy, "draining"), (draining.Status, draining.Description));
    }

    [Fact]
    public async Task A_probe_answered_503_while_draining_logs_nothing_at_warning_or_above()
    {
        var sink = new Sink();
        using var factory = new UncertaintyApiFactory { LogSink = sink };
        factory.Settings["Uncertainty:DrainSeconds"] = "1";
        var client = await factory.ReadyClientAsync();
        var state = factory.Services.GetRequiredService<Uncertainty.Api.Hosting.ServiceState>();

        var stopping = factory.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHost>().StopAsync();
        while (!state.Draining)
        {
            await Task.Delay(5);
        }

        var ready = await client.GetAsync("/health/ready");
        await stopping;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal("draining", (await ready.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
        Assert.DoesNotContain(sink.Events, e => e.Level >= Serilog.Events.LogEventLevel.Warning && e.Properties.TryGetValue("SourceContext", out var source) && source.ToString().Contains("HealthChecks", StringComparison.Ordinal));
    }

    private sealed class Sink : Serilog.Core.ILogEventSink
    {
        public System.Collections.Concurrent.ConcurrentQueue<Serilog.Events.LogEvent> Events { get; } = new();

        public void Emit(Serilog.Events.LogEvent logEvent) => Events.Enqueue(logEvent);
    }
}
