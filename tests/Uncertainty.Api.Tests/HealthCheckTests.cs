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
}
