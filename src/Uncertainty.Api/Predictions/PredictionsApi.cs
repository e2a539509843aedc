using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Models;
using Uncertainty.Api.Observability;
using Uncertainty.Api.Security;
using Uncertainty.Model.Inference;

namespace Uncertainty.Api.Predictions;

public static class PredictionsApi
{
    private const int DefaultSamples = 100;
    private const double DefaultIntervalLevel = 0.95;

    public static IEndpointRouteBuilder MapPredictionsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("").WithTags("Predictions").RequireApiKeyForInference();
        group.MapPost("/predict", PredictDefault)
            .WithName("Predict")
            .WithSummary("Predict with the default model: MC dropout mean, epistemic/aleatoric/predictive variance and an interval per input row (probabilities, entropy and mutual information for classifiers).");
        group.MapPost("/models/{name}/predict", PredictModel)
            .WithName("PredictWithModel")
            .WithSummary("Predict with a named model's default version.");
        group.MapPost("/models/{name}/versions/{version:int}/predict", PredictModelVersion)
            .WithName("PredictWithModelVersion")
            .WithSummary("Predict with one version of a named model.");
        return app;
    }

    public static Task<Results<Ok<PredictResponse>, ValidationProblem, ProblemHttpResult>> PredictDefault(
        PredictRequest request, InferenceWorker worker, ModelStore store, IOptions<UncertaintyOptions> options, HttpContext httpContext, CancellationToken cancellationToken) =>
        worker.DefaultModel is null
            ? Task.FromResult<Results<Ok<PredictResponse>, ValidationProblem, ProblemHttpResult>>(TypedResults.Problem("The default model is still loading; retry shortly.", statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready"))
            : Predict(options.Value.DefaultModel, null, request, worker, store, options.Value, httpContext, cancellationToken);

    public static Task<Results<Ok<PredictResponse>, ValidationProblem, ProblemHttpResult>> PredictModel(
        string name, PredictRequest request, InferenceWorker worker, ModelStore store, IOptions<UncertaintyOptions> options, HttpContext httpContext, CancellationToken cancellationToken) =>
        Predict(name, null, request, worker, store, options.Value, httpContext, cancellationToken);

    public static Task<Results<Ok<PredictResponse>, ValidationProblem, ProblemHttpResult>> PredictModelVersion(
        string name, int version, PredictRequest request, InferenceWorker worker, ModelStore store, IOptions<UncertaintyOptions> options, HttpContext httpContext, CancellationToken cancellationToken) =>
        Predict(name, version, request, worker, store, options.Value, httpContext, cancellationToken);

    private static async Task<Results<Ok<PredictResponse>, ValidationProblem, ProblemHttpResult>> Predict(
        string name,
        int? version,
        PredictRequest request,
        InferenceWorker worker,
        ModelStore store,
        UncertaintyOptions options,
        HttpContext httpContext,
        CancellationToken cancellationToken)
    {
        if (ModelsApi.Find(store, name, version) is { } notFound)
        {
            return notFound;
        }

        var description = store.Manifest(name, version ?? store.DefaultVersion(name)!.Value).Model;
        var (errors, raw) = PredictRequestValidator.Validate(request, description, options);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var seed = request.Seed ?? BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        var mcRequest = new McRequest
        {
            Inputs = description.PrepareInputs(raw),
            Rows = request.Inputs!.Length,
            Samples = request.Samples ?? DefaultSamples,
            Seed = seed,
            Tolerance = request.Tolerance,
            ReturnSamples = request.ReturnSamples,
        };

        ServedPrediction result;
        try
        {
            result = await worker.PredictAsync(name, version, mcRequest, cancellationToken);
        }
        catch (QueueFullException e)
        {
            httpContext.RequestServices.GetRequiredService<ServiceMetrics>().Rejected("queue_full");
            httpContext.Response.Headers.RetryAfter = "1";
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status429TooManyRequests, title: "Too many requests");
        }
        catch (ServiceStoppingException e)
        {
            httpContext.Response.Headers.RetryAfter = "5";
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Shutting down");
        }
        catch (PredictionTimeoutException e)
        {
            httpContext.RequestServices.GetRequiredService<ServiceMetrics>().Rejected("timeout");
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status504GatewayTimeout, title: "Prediction timed out");
        }

        var level = request.IntervalLevel ?? DefaultIntervalLevel;
        var labels = result.Model.Description.OutputNames;
        var predictions = result.Prediction.Rows.Select(row => ToResult(row, level, labels)).ToList();
        if (predictions.Any(p => p.Mean.Any(v => !double.IsFinite(v)) || p.EpistemicVariance.Any(v => !double.IsFinite(v))))
        {
            return TypedResults.Problem("The model produced a non-finite output (NaN or infinity) for this input.", statusCode: StatusCodes.Status500InternalServerError, title: "Model output is not finite");
        }

        return TypedResults.Ok(new PredictResponse(result.Model.Name, result.Model.Version, result.Prediction.SamplesUsed, seed, predictions));
    }

    private static RowResult ToResult(RowPrediction row, double level, IReadOnlyList<string>? labels) => row switch
    {
        RegressionPrediction regression => new RowResult
        {
            Mean = regression.Mean,
            EpistemicVariance = regression.EpistemicVariance,
            AleatoricVariance = regression.AleatoricVariance,
            PredictiveVariance = regression.PredictiveVariance,
            Std = regression.Std,
            Interval = regression.Interval(level) is var (lower, upper) ? new IntervalResult(level, lower, upper) : null,
            Samples = regression.Samples,
        },
        ClassPrediction classes => new RowResult
        {
            Mean = classes.Probabilities,
            EpistemicVariance = [.. classes.ProbabilityStd.Select(s => s * s)],
            Probabilities = classes.Probabilities,
            ProbabilityStd = classes.ProbabilityStd,
            Label = labels is { } names && classes.Label < names.Count ? names[classes.Label] : classes.Label.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Entropy = classes.Entropy,
            ExpectedEntropy = classes.ExpectedEntropy,
            MutualInformation = classes.MutualInformation,
            VariationRatio = classes.VariationRatio,
            Samples = classes.Samples,
        },
        _ => throw new InvalidOperationException($"unknown prediction {row.GetType().Name}"),
    };
}
