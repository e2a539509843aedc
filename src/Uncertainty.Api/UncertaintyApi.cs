using Prometheus;
using Serilog;
using Uncertainty.Api.Evaluation;
using Uncertainty.Api.Health;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Models;
using Uncertainty.Api.Observability;
using Uncertainty.Api.OpenApi;
using Uncertainty.Api.Predictions;
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
                .Enrich.FromLogContext();
            if (jsonLogs)
            {
                logger.WriteTo.Console(new Serilog.Formatting.Compact.RenderedCompactJsonFormatter());
            }
            else
            {
                logger.WriteTo.Console(formatProvider: System.Globalization.CultureInfo.InvariantCulture);
            }
        });

        builder.Services.AddOptions<UncertaintyOptions>()
            .BindConfiguration(UncertaintyOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<BadRequestExceptionHandler>();
        // Unreadable bodies always reach BadRequestExceptionHandler, in every environment.
        builder.Services.Configure<RouteHandlerOptions>(routes => routes.ThrowOnBadRequest = true);
        builder.Services.AddOpenApi(openApi => openApi.AddUncertaintyExamples());
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict);

        builder.Services.AddRequestLimits();
        builder.Services.AddSingleton<ApiKeys>();
        builder.Services.AddSingleton<ServiceMetrics>();
        builder.Services.AddSingleton<ModelStore>();
        builder.Services.AddSingleton<TrainingJobStore>();

        // Started in this order, stopped in reverse: training stops (and persists) before inference.
        builder.Services.AddSingleton<InferenceWorker>();
        builder.Services.AddHostedService(services => services.GetRequiredService<InferenceWorker>());
        builder.Services.AddSingleton<TrainingJobRunner>();
        builder.Services.AddHostedService(services => services.GetRequiredService<TrainingJobRunner>());
        return builder;
    }

    public static WebApplication MapUncertaintyApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseSerilogRequestLogging();

        // The explorer page (wwwroot): at / and /explorer, with its vendored chart library; no CDN.
        app.UseSecurityHeaders();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.MapGet("/explorer", () => Results.Redirect("/")).ExcludeFromDescription();
        app.UseRouting();
        app.UseHttpMetrics();
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
        app.MapModelsApi();
        app.MapImportApi();
        app.MapEvaluationApi();
        app.MapTrainingJobsApi();
        app.MapMetrics("/metrics");
        return app;
    }
}
