using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Hosting;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Problems;
using Uncertainty.Model.Inference;

namespace Uncertainty.Api.Predictions;

/// <summary>A prediction in reported units, with the version that computed it and the seed its masks came from.</summary>
public sealed record ServedPrediction(LoadedVersion Model, McPrediction Prediction, ulong Seed);

/// <summary>
/// The one prediction path, for every entry point (REST, evaluation, other protocols): the version is
/// resolved once into an immutable loaded version; the request is validated and scaled with that version's
/// manifest, queued for that version's network, and unscaled with the same manifest.
/// </summary>
public sealed class PredictionService(ModelRegistry registry, InferenceScheduler queue, ServiceState state, IOptions<UncertaintyOptions> options)
{
    public const int DefaultSamples = 100;

    /// <summary>The model <c>POST /predict</c> serves.</summary>
    public string DefaultModel => options.Value.DefaultModel;

    /// <summary>A lease on the version a request means; 503 while the service is still starting.</summary>
    public Task<ModelLease> AcquireAsync(string name, int? version, CancellationToken cancellationToken)
    {
        state.ThrowIfNotStarted();
        return registry.AcquireAsync(name, version, cancellationToken);
    }

    public async Task<ServedPrediction> PredictAsync(string name, int? version, PredictRequest request, CancellationToken cancellationToken)
    {
        using var lease = await AcquireAsync(name, version, cancellationToken);
        return await PredictAsync(lease.Version, request, cancellationToken);
    }

    /// <summary>A picture (PNG or JPEG) through an image model: decoded into one row as the model's preprocessing says, then the same path.</summary>
    public async Task<ServedPrediction> PredictImageAsync(string name, int? version, byte[] picture, PredictRequest options, CancellationToken cancellationToken)
    {
        using var lease = await AcquireAsync(name, version, cancellationToken);
        var image = lease.Version.Description.Image
            ?? throw new RequestValidationException("image", $"Model '{name}' is not an image model; send its rows as JSON to /models/{name}/predict.");
        var row = await ImageDecoder.ToRowAsync(picture, image, cancellationToken);
        return await PredictAsync(lease.Version, options with { Inputs = [System.Text.Json.JsonSerializer.SerializeToElement(row)] }, cancellationToken);
    }

    private async Task<ServedPrediction> PredictAsync(LoadedVersion model, PredictRequest request, CancellationToken cancellationToken)
    {
        var (errors, raw) = PredictRequestValidator.Validate(request, model.Description, options.Value);
        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        var seed = request.Seed ?? BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        var mcRequest = new McRequest
        {
            Inputs = model.Description.PrepareInputs(raw),
            Rows = request.Inputs!.Length,
            Samples = request.Samples ?? DefaultSamples,
            Seed = seed,
            Tolerance = request.Tolerance,
            ReturnSamples = request.ReturnSamples,
        };
        var prediction = model.Description.ToReportedUnits(await RunAsync(model, mcRequest, PassMode.MonteCarlo, RequestTimeout, cancellationToken));
        if (!prediction.Rows.All(Finite))
        {
            throw new NonFiniteOutputException();
        }

        return new ServedPrediction(model, prediction, seed);
    }

    /// <summary>Runs a prepared request (network units) on a version the caller holds a lease on; the result is in network units.</summary>
    public Task<McPrediction> RunAsync(LoadedVersion model, McRequest request, PassMode mode, TimeSpan timeout, CancellationToken cancellationToken) =>
        queue.PredictAsync(model, request, mode, timeout, cancellationToken);

    public TimeSpan RequestTimeout => TimeSpan.FromSeconds(options.Value.RequestTimeoutSeconds);

    /// <summary>Every number a response would carry is finite (JSON has no NaN or infinity).</summary>
    public static bool Finite(RowPrediction row) => row switch
    {
        RegressionPrediction r => r.Mean.All(double.IsFinite) && r.EpistemicVariance.All(double.IsFinite) && r.AleatoricVariance.All(double.IsFinite)
            && (r.Samples?.All(pass => pass.All(float.IsFinite)) ?? true),
        ClassPrediction c => c.Probabilities.All(double.IsFinite) && c.ProbabilityStd.All(double.IsFinite) && double.IsFinite(c.Entropy) && double.IsFinite(c.MutualInformation),
        _ => true,
    };
}
