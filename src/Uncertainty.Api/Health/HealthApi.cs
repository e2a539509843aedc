using System.Reflection;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Hosting;
using Uncertainty.Api.Inference;
using CheckStatus = Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus;

namespace Uncertainty.Api.Health;

/// <summary>
/// The probes, as ASP.NET Core health checks: <c>/health/live</c> runs none (the process answers), <c>/health/ready</c>
/// runs the service check (started, not draining, inference thread alive) and one check per model (its default
/// version's registry state). The response writer keeps the probes' JSON: <c>ready</c> or <c>degraded</c> with each model's state.
/// </summary>
public static class HealthApi
{
    /// <summary>The tag of the checks <c>/health/ready</c> runs.</summary>
    public const string ReadyTag = "ready";

    /// <summary>A probe's answer.</summary>
    /// <param name="Status">live; ready, or degraded when some model cannot serve; starting, draining or failed (503).</param>
    /// <param name="Model">The model POST /predict serves.</param>
    /// <param name="Version">Its default version.</param>
    /// <param name="Models">Each model's default version and state (loaded, notLoaded, failed with the error).</param>
    public sealed record HealthStatus(string Status, string? Model = null, int? Version = null, IReadOnlyList<ModelHealth>? Models = null);

    /// <summary>Registers the readiness checks.</summary>
    public static IServiceCollection AddUncertaintyHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<ServiceHealthCheck>(ServiceHealthCheck.Name, tags: [ReadyTag])
            .AddCheck<ModelsHealthCheck>(ModelsHealthCheck.Name, tags: [ReadyTag]);
        return services;
    }

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = (context, _) => context.Response.WriteAsJsonAsync(new HealthStatus("live")) })
            .Described(nameof(Live), StatusCodes.Status200OK)
            .WithName("Live")
            .WithDescription("A liveness probe: 200 whenever the process answers HTTP.")
            .WithSummary("The process is up.");
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ReadyTag), ResponseWriter = WriteReady })
            .Described(nameof(Ready), StatusCodes.Status200OK, StatusCodes.Status503ServiceUnavailable)
            .WithName("Ready")
            .WithDescription("A readiness probe: 200 with each model's state once the service has started and until it begins to drain; 503 with status starting, draining or failed otherwise.")
            .WithSummary("200 once started (models provided and loaded) and until shutdown begins; lists each model's state. 503 while starting or draining.");
        return app;
    }

    /// <summary>
    /// Health-check endpoints are not route handlers, so ApiExplorer (and the OpenAPI document) skips them: the stand-in
    /// method and the metadata a MapGet would have given put them in the document with their JSON shape.
    /// </summary>
    private static TBuilder Described<TBuilder>(this TBuilder endpoint, string stand, params int[] statuses)
        where TBuilder : IEndpointConventionBuilder => endpoint
        .WithMetadata([
            typeof(HealthApi).GetMethod(stand, BindingFlags.NonPublic | BindingFlags.Static)!,
            new HttpMethodMetadata([HttpMethods.Get]),
            .. statuses.Select(status => new ProducesResponseTypeMetadata(status, typeof(HealthStatus), ["application/json"]))])
        .WithTags("Health");

    // Stand-ins for the OpenAPI description only (see Described); the health-check middleware answers.
    private static HealthStatus Live() => new("live");

    private static HealthStatus Ready() => new("ready");

    /// <summary>
    /// The health-check service's line for each check's result (Unhealthy at Error, Degraded at Warning): a probe while starting
    /// or draining is no error, and it comes every few seconds. A check that throws is still logged (another event).
    /// </summary>
    internal static bool IsProbeResult(Serilog.Events.LogEvent logEvent) =>
        logEvent.Properties.TryGetValue("SourceContext", out var source) && source is Serilog.Events.ScalarValue { Value: "Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService" }
        && logEvent.Properties.TryGetValue("EventId", out var id) && id is Serilog.Events.StructureValue structure
        && structure.Properties.Any(p => p.Name == "Name" && p.Value is Serilog.Events.ScalarValue { Value: "HealthCheckEnd" });

    /// <summary>The report as the probes' JSON: the service check's state while it fails (503), else ready or degraded with every model.</summary>
    private static Task WriteReady(HttpContext context, HealthReport report)
    {
        var service = report.Entries[ServiceHealthCheck.Name];
        if (service.Status == CheckStatus.Unhealthy)
        {
            return context.Response.WriteAsJsonAsync(new HealthStatus(service.Description ?? "failed"));
        }

        var models = report.Entries.TryGetValue(ModelsHealthCheck.Name, out var entry) && entry.Data.TryGetValue(ModelsHealthCheck.ModelsKey, out var list)
            ? (IReadOnlyList<ModelHealth>)list
            : [];
        var defaultModel = context.RequestServices.GetRequiredService<IOptions<UncertaintyOptions>>().Value.DefaultModel;
        var main = models.FirstOrDefault(m => m.Name == defaultModel);
        return context.Response.WriteAsJsonAsync(new HealthStatus(report.Status == CheckStatus.Healthy ? "ready" : "degraded", defaultModel, main?.DefaultVersion, models));
    }
}

/// <summary>Unhealthy while starting (models not yet provided and loaded), draining, or when the inference thread has stopped.</summary>
public sealed class ServiceHealthCheck(ServiceState state, InferenceScheduler scheduler) : IHealthCheck
{
    public const string Name = "service";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Check(state, scheduler));

    /// <summary>The check itself, for callers that need it without the health-check service (the Open Inference Protocol's readiness).</summary>
    public static HealthCheckResult Check(ServiceState state, InferenceScheduler scheduler) =>
        state.Draining ? HealthCheckResult.Unhealthy("draining")
            : !scheduler.Alive ? HealthCheckResult.Unhealthy("failed")
            : !state.Started ? HealthCheckResult.Unhealthy("starting")
            : HealthCheckResult.Healthy("started");
}

/// <summary>
/// Each model's default version as the registry holds it: one entry per model in the result's data, and Degraded when
/// any cannot serve (failed to load) — the others keep serving, so the replica stays ready.
/// </summary>
public sealed class ModelsHealthCheck(ModelRegistry registry) : IHealthCheck
{
    public const string Name = "models";

    /// <summary>The data entry holding every model's <see cref="ModelHealth"/>, in store order.</summary>
    public const string ModelsKey = "models";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var models = registry.Health();
        var data = new Dictionary<string, object> { [ModelsKey] = models };
        foreach (var model in models)
        {
            data[$"model:{model.Name}"] = model.State; // per model, for tools that read the health report's data
        }

        var failed = models.Where(m => m.State == "failed").Select(m => m.Name).ToList();
        return Task.FromResult(failed.Count == 0
            ? HealthCheckResult.Healthy($"{models.Count} models", data)
            : HealthCheckResult.Degraded($"Cannot serve: {string.Join(", ", failed)}", data: data));
    }
}
