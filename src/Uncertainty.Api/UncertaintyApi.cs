using Microsoft.Extensions.DependencyInjection.Extensions;
using Prometheus;
using Serilog;
using Uncertainty.Api.Evaluation;
using Uncertainty.Api.Health;
using Uncertainty.Api.Hosting;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Models;
using Uncertainty.Api.Observability;
using Uncertainty.Api.OpenInference;
using Uncertainty.Api.OpenApi;
using Uncertainty.Api.Predictions;
using Uncertainty.Api.Problems;
using Uncertainty.Api.Security;
using Uncertainty.Api.Training;

namespace Uncertainty.Api;

/// <summary>The service's composition: what it registers and what it maps, one feature per line.</summary>
public static class UncertaintyApi
{
    public static WebApplicationBuilder AddUncertaintyApi(this WebApplicationBuilder builder)
    {
        // Console output is ours to shape: one JSON object per line in containers (Uncertainty:LogFormat=json), text otherwise.
        var jsonLogs = string.Equals(builder.Configuration[$"{UncertaintyOptions.Section}:{nameof(UncertaintyOptions.LogFormat)}"], "json", StringComparison.OrdinalIgnoreCase);
        builder.Services.AddSerilog((services, logger) =>
        {
            logger.ReadFrom.Configuration(builder.Configuration)
                .ReadFrom.Services(services)
                .Enrich.FromLogContext()
                .Filter.ByExcluding(HealthApi.IsProbeResult);
            if (jsonLogs)
            {
                logger.WriteTo.Console(new Serilog.Formatting.Compact.RenderedCompactJsonFormatter());
            }
            else
            {
                logger.WriteTo.Console(formatProvider: System.Globalization.CultureInfo.InvariantCulture);
            }

            // A busy port is reported by Program in one line; Kestrel's own note that it listens as configured is noise here.
            logger.Filter.ByExcluding(Listeners.IsListenNoise);
        });
        CachedLoggerFactory.Register(builder.Services);
        builder.ConfigureListeners();

        builder.Services.AddOptions<UncertaintyOptions>()
            .BindConfiguration(UncertaintyOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
        // Unreadable bodies always reach the exception handler (and ProblemMap), in every environment.
        builder.Services.Configure<RouteHandlerOptions>(routes => routes.ThrowOnBadRequest = true);
        builder.Services.AddOpenApi(openApi => openApi.AddUncertaintyExamples().AddUncertaintyContract().AddMultipartBodies().AddSeedSchemas().AddStringEnumSchemas());
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict);
        builder.Services.ConfigureHttpJsonOptions(json => JsonContract.Apply(json.SerializerOptions));

        builder.Services.AddRequestLimits();
        builder.Services.AddApiKeyAuthorization();
        builder.Services.AddSingleton<ServiceMetrics>();
        ServiceMetrics.SuppressRuntimeNoise();
        builder.AddUncertaintyTelemetry();
        builder.Services.AddUncertaintyHealthChecks();
        builder.Services.AddSingleton<ServiceState>();
        builder.Services.AddSingleton<ModelStore>();
        builder.Services.AddSingleton<TrainingJobStore>();
        builder.Services.AddSingleton<InferenceBackend>();
        builder.Services.AddSingleton<ModelRegistry>();
        builder.Services.AddSingleton<PredictionService>();
        builder.Services.AddOpenInference();

        // Started in this order, stopped in reverse: training stops (and persists) before inference drains.
        // DrainingSignal's StoppingAsync runs before any of them stops, the HTTP server included.
        builder.Services.AddHostedService<DrainingSignal>();
        builder.Services.AddSingleton<InferenceScheduler>();
        builder.Services.AddHostedService(services => services.GetRequiredService<InferenceScheduler>());
        builder.Services.TryAddSingleton(BuiltInModels.Default);
        builder.Services.AddHostedService<BuiltInModelSeeder>();
        builder.Services.AddSingleton<TrainingJobRunner>();
        builder.Services.AddHostedService(services => services.GetRequiredService<TrainingJobRunner>());
        return builder;
    }

    public static WebApplication MapUncertaintyApi(this WebApplication app)
    {
        // Outermost, so it logs the status the client got (a 400 for bad JSON is a 400 here, not a 500).
        app.UseSerilogRequestLogging(logging => logging.GetLevel = RequestLogLevel);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseGrpcPortForGrpcOnly();
        app.Use((context, next) => DrainingSignal.UseDrainingConnections(context, next));

        // The explorer page (wwwroot): at / and /explorer, with its vendored chart library; no CDN.
        app.UseSecurityHeaders();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.MapGet("/explorer", () => Results.Redirect("/")).ExcludeFromDescription();
        app.UseRouting();
        app.UseStandardMethodsOnly();
        app.UseHttpMetrics();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();

        app.UseBodySizeLimits();

        app.MapOpenApi();
        app.UseSwaggerUI(ui =>
        {
            ui.SwaggerEndpoint("/openapi/v1.json", "Uncertainty v1");
            ui.RoutePrefix = "swagger";
        });

        app.MapHealthApi();
        app.MapPredictionsApi();
        app.MapForecastApi();
        app.MapModelsApi();
        app.MapImportApi();
        app.MapEvaluationApi();
        app.MapTrainingJobsApi();
        app.MapOpenInferenceApi();
        app.MapMetrics("/metrics");
        return app;
    }

    /// <summary>Probes and scrapes at Debug (they come every few seconds); client errors at Warning; server errors at Error.</summary>
    internal static Serilog.Events.LogEventLevel RequestLogLevel(HttpContext context, double elapsed, Exception? exception) =>
        Telemetry.IsProbeOrScrape(context.Request.Path) ? Serilog.Events.LogEventLevel.Debug
        : exception is not null || context.Response.StatusCode >= 500 ? Serilog.Events.LogEventLevel.Error
        : context.Response.StatusCode >= 400 ? Serilog.Events.LogEventLevel.Warning
        : Serilog.Events.LogEventLevel.Information;
}
