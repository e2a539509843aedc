using System.Diagnostics;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Uncertainty.Api.Observability;

/// <summary>
/// Traces: ASP.NET Core's server span for every request, and the service's own spans (<see cref="Source"/>) for
/// what happens to a prediction on the inference owner thread: queue wait, the merged batch, the forward pass.
/// Spans are exported over OTLP only when an endpoint is configured (<c>Uncertainty:Telemetry:OtlpEndpoint</c> or
/// the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>); without one, nothing leaves the process.
/// </summary>
public static class Telemetry
{
    /// <summary>The configuration key of the OTLP endpoint (an absolute http or https URI).</summary>
    public const string OtlpEndpointKey = "Uncertainty:Telemetry:OtlpEndpoint";

    /// <summary>The standard OpenTelemetry variable, honoured as well.</summary>
    public const string StandardEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The service's spans. A source with no listener creates nothing, so the spans cost nothing when tracing is off.</summary>
    public static readonly ActivitySource Source = new("Uncertainty");

    /// <summary>Span names.</summary>
    public static class Spans
    {
        /// <summary>A prediction from queued until the owner thread took it into a batch.</summary>
        public const string QueueWait = "uncertainty.queue_wait";

        /// <summary>Requests for one version merged into one pass (linked to every request it serves).</summary>
        public const string Batch = "uncertainty.batch";

        /// <summary>The Monte Carlo (or deterministic) forward pass of a batch.</summary>
        public const string ForwardPass = "uncertainty.forward_pass";

        /// <summary>One training job, from start to its final state.</summary>
        public const string TrainingJob = "uncertainty.training_job";
    }

    /// <summary>Span attribute names.</summary>
    public static class Attributes
    {
        public const string Model = "model";
        public const string Version = "version";
        public const string Rows = "rows";
        public const string Samples = "samples";
        public const string MergedRequests = "merged_requests";
        public const string Chunks = "chunks";
        public const string Mode = "mode";
        public const string Job = "job";
        public const string Epochs = "epochs";
        public const string State = "state";
    }

    /// <summary>
    /// Registers tracing: ASP.NET Core server spans (probes and scrapes left out) and <see cref="Source"/>; the OTLP exporter
    /// when an endpoint is configured (decided once the configuration is complete). A malformed endpoint stops start-up with the setting's name.
    /// </summary>
    public static WebApplicationBuilder AddUncertaintyTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<TelemetryOptions>()
            .BindConfiguration(TelemetryOptions.Section)
            .Validate(
                telemetry => telemetry.OtlpEndpoint is null || (telemetry.OtlpEndpoint.IsAbsoluteUri && telemetry.OtlpEndpoint.Scheme is "http" or "https"),
                $"{OtlpEndpointKey} must be an absolute http or https URI (the OTLP collector), e.g. http://collector:4317.")
            .ValidateOnStart();
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("uncertainty"))
            .WithTracing(tracing => tracing
                .AddSource(Source.Name)
                .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.Filter = context => !IsProbeOrScrape(context.Request.Path)));
        builder.Services.ConfigureOpenTelemetryTracerProvider((services, tracing) =>
        {
            var endpoint = services.GetRequiredService<IOptions<TelemetryOptions>>().Value.OtlpEndpoint;
            if (endpoint is not null || !string.IsNullOrWhiteSpace(services.GetRequiredService<IConfiguration>()[StandardEndpointKey]))
            {
                // The options read the standard OTEL_EXPORTER_OTLP_* variables (protocol, headers); our key, when set, names the endpoint.
                var otlp = new OtlpExporterOptions();
                if (endpoint is not null)
                {
                    otlp.Endpoint = endpoint;
                }

                tracing.AddProcessor(new BatchActivityExportProcessor(new OtlpTraceExporter(otlp)));
            }
        });
        return builder;
    }

    /// <summary>Health probes and metric scrapes: they come every few seconds and say nothing about a request.</summary>
    internal static bool IsProbeOrScrape(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments("/v2/health") || path.StartsWithSegments("/metrics");

    /// <summary>A span on the owner thread under <paramref name="parent"/> (the request's context, carried with its job), or null when nobody listens.</summary>
    internal static Activity? StartOnOwner(string name, ActivityContext parent, DateTimeOffset startTime = default, IEnumerable<ActivityLink>? links = null)
    {
        var activity = Source.StartActivity(ActivityKind.Internal, parent, links: links, startTime: startTime, name: name);

        // The owner thread keeps no ambient span: every span here names its parent, so none leaks into the next job.
        Activity.Current = null;
        return activity;
    }
}

/// <summary>Where traces go (<c>Uncertainty:Telemetry</c>).</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Uncertainty:Telemetry";

    /// <summary>The OTLP collector (gRPC, e.g. http://collector:4317); null (the default) exports nothing unless OTEL_EXPORTER_OTLP_ENDPOINT is set.</summary>
    public Uri? OtlpEndpoint { get; set; }
}
