using Microsoft.AspNetCore.Http.HttpResults;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Problems;
using Uncertainty.Api.Security;
using Uncertainty.Model.Forecasting;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;

namespace Uncertainty.Api.Models;

/// <summary>A model in the store, as GET /models lists it.</summary>
/// <param name="Error">Why the model cannot be described or served (its default version's manifest or weights are unreadable); null when it can.</param>
/// <param name="Name">The model's name.</param>
/// <param name="DefaultVersion">The version it serves by default; null when it has none.</param>
/// <param name="Versions">Every version in the store, ascending.</param>
/// <param name="Task">regression or classification; null when the model cannot be read.</param>
/// <param name="Inputs">Values per input row; null when the model cannot be read.</param>
/// <param name="Outputs">Output names (class labels for classifiers).</param>
public sealed record ModelSummary(string Name, int? DefaultVersion, IReadOnlyList<int> Versions, string? Task, int? Inputs, IReadOnlyList<string>? Outputs, string? Error = null);

/// <summary>One version of a model.</summary>
/// <param name="Error">Why this version cannot be loaded or read; null when it can (or has not been tried).</param>
/// <param name="Version">The version number.</param>
/// <param name="CreatedAt">When the version was stored.</param>
/// <param name="WeightsSha256">SHA-256 of the weights file, checked on every load.</param>
/// <param name="Training">What training reported; null for imported weights.</param>
public sealed record VersionInfo(int Version, DateTimeOffset? CreatedAt, string? WeightsSha256, TrainingInfo? Training, string? Error = null);

/// <summary>What training reported, without the per-epoch history.</summary>
/// <param name="BestValidationMetric">At the best epoch: validation RMSE in target units (regression) or accuracy (classification).</param>
/// <param name="RowsPerSecond">Training throughput: rows (images) per second over every epoch.</param>
/// <param name="Epochs">Epochs run.</param>
/// <param name="BestEpoch">The epoch whose weights were kept (the best validation loss, or the last).</param>
/// <param name="Rows">Training rows.</param>
/// <param name="FinalLoss">Training loss of the last epoch.</param>
/// <param name="BestValidationLoss">Validation loss at the best epoch; null without validation rows.</param>
/// <param name="Seconds">Wall-clock training time.</param>
public sealed record TrainingInfo(int Epochs, int BestEpoch, int Rows, double FinalLoss, double? BestValidationLoss, double? BestValidationMetric, double Seconds, double RowsPerSecond)
{
    public static TrainingInfo? From(TrainingSummary? summary) => summary is null ? null
        : new TrainingInfo(
            summary.Epochs,
            summary.BestEpoch,
            summary.Rows,
            summary.FinalLoss,
            summary.BestValidationLoss,
            summary.History.FirstOrDefault(epoch => epoch.Epoch == summary.BestEpoch)?.ValidationMetric,
            summary.Seconds,
            summary.RowsPerSecond);
}

/// <summary>
/// Rows of the model's training data, ready to use: <see cref="Inputs"/> pastes as the "inputs" of POST /models/{name}/predict,
/// and with <see cref="Targets"/> (regression) or <see cref="Labels"/> (classification) as the "targets" of POST /models/{name}/evaluate.
/// </summary>
/// <param name="Inputs">One row per example, as /predict reads it: feature values in input order (an image's pixels flat, row-major; a token sequence's ids without padding).</param>
/// <param name="Targets">Per row, the regression target in reported units (one output); null for a classifier.</param>
/// <param name="Labels">Per row, the class label; null for a regressor.</param>
public sealed record ModelExamples(IReadOnlyList<float[]> Inputs, IReadOnlyList<double>? Targets, IReadOnlyList<string>? Labels)
{
    /// <summary>
    /// The manifest's example rows (features, then the target value or class index) split into inputs and targets; rows
    /// /predict would refuse (a token row that is all padding, a value that is not finite) are left out. Null when none remain.
    /// </summary>
    public static ModelExamples? Of(ModelDescription model)
    {
        if (model.Examples is not { Count: > 0 } rows)
        {
            return null;
        }

        var network = model.Network;
        var width = network.Inputs;
        var classifier = network.Head.Kind == HeadKind.Classification;
        var kept = rows.Where(row => row.Length == width + 1 && row.All(float.IsFinite)).ToList();
        var inputs = kept.Select(row => network.IsTokenSequence ? TokensOf(row.AsSpan(0, width)) : row[..width]).ToList();
        var usable = Enumerable.Range(0, kept.Count).Where(i => inputs[i].Length > 0 && (!classifier || ((int)kept[i][width] is var c && c >= 0 && c < (model.OutputNames?.Count ?? 0)))).ToList();
        if (usable.Count == 0)
        {
            return null;
        }

        return new ModelExamples(
            [.. usable.Select(i => inputs[i])],
            classifier ? null : [.. usable.Select(i => (double)kept[i][width])],
            classifier ? [.. usable.Select(i => model.OutputNames![(int)kept[i][width]])] : null);
    }

    /// <summary>A token row without its padding (trailing zeros); empty when padding is not only at the end (/predict refuses id 0).</summary>
    private static float[] TokensOf(ReadOnlySpan<float> row)
    {
        var length = row.LastIndexOfAnyExcept(0f) + 1;
        return row[..length].Contains(0f) ? [] : row[..length].ToArray();
    }
}

/// <summary>A model as GET /models/{name} describes it: what to send and what comes back.</summary>
/// <param name="Network">The default version's network spec; it can be sent back as the network of an import.</param>
/// <param name="Description">What the model is, as stored with it.</param>
/// <param name="Examples">Example rows of the training data: inputs that paste into POST /models/{name}/predict, with their targets or labels beside them; null when the package keeps none.</param>
/// <param name="Name">The model's name.</param>
/// <param name="DefaultVersion">The version it serves by default.</param>
/// <param name="Versions">Every version with its training summary.</param>
/// <param name="Task">regression or classification.</param>
/// <param name="Inputs">Input names in feature order (POST /predict takes arrays in this order, or objects keyed by these names).</param>
/// <param name="Outputs">Output names (class labels for classifiers).</param>
public sealed record ModelDetails(
    string Name,
    int DefaultVersion,
    IReadOnlyList<VersionInfo> Versions,
    string Task,
    IReadOnlyList<string> Inputs,
    IReadOnlyList<string>? Outputs,
    NetworkSpec Network,
    string? Description,
    ModelExamples? Examples)
{
    /// <summary>What the default version was trained on and which rows were held out (POST /models/{name}/evaluate on that data scores those by default); null when not recorded.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public TrainingData? TrainingData { get; init; }

    /// <summary>When the default version was trained with tune: every grid point's validation log-likelihood and the chosen dropout rate and tau; null otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public TuningReport? Tuning { get; init; }

    /// <summary>For an image model, how a picture becomes its input (POST /models/{name}/predict/image); null otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public ImageInput? Image { get; init; }

    /// <summary>For a text model, how a string becomes token ids (POST /predict takes strings); null otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public TextDetails? Text { get; init; }

    /// <summary>For a forecasting model, what POST /models/{name}/forecast reads and returns; null otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public ForecastInput? Forecast { get; init; }
}

/// <summary>How a text model turns a string into token ids.</summary>
/// <param name="Rules">The tokenizer's rules version (docs/layers.md, "Text").</param>
/// <param name="VocabularySize">Token ids, padding (0) and unknown (1) included.</param>
/// <param name="Preprocessing">email: a raw message becomes its subject, sender and body before tokenizing; none.</param>
/// <param name="MaxTokens">Tokens read per text; later ones are ignored.</param>
public sealed record TextDetails(string Rules, int VocabularySize, string Preprocessing, int MaxTokens);

/// <summary>PUT /models/{name}/default-version body.</summary>
/// <param name="Version">The version to serve by default.</param>
public sealed record SetDefaultVersionRequest(int? Version);

public static class ModelsApi
{
    public static IEndpointRouteBuilder MapModelsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/models").WithTags("Models");
        group.MapGet("/", List).WithName("ListModels").WithSummary("The models in the store with their versions and default version; a model that cannot be read is listed with its error.")
            .WithDescription("Every model in the store with its versions, default version, task, input count and output names. A model whose default manifest cannot be read is listed with its error instead of failing the listing.");
        group.MapGet("/{name}", Get).WithName("GetModel").WithSummary("A model's inputs (by name), outputs, task, versions with their training summary, and default version.")
            .WithDescription("What to send to a model and what comes back: input names in order, outputs, task, network spec, example rows, and for image, text and forecasting models their preprocessing. 404 for an unknown model, 503 when its default version cannot be read.")
            .ProducesServiceProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        group.MapPut("/{name}/default-version", SetDefaultVersion).WithName("SetDefaultVersion").RequireAdminScope().WritesToStore()
            .WithDescription("Needs an administration key when keys are configured; 403 on a read-only replica. The version is loaded and checked (resource limits, SHA-256, finite outputs on its example rows) before it serves; a version that fails is 422 and the current default keeps serving.")
            .WithSummary("Switch the version a model serves by default; the new version is loaded and checked first, so a version that fails leaves the current one serving (422).")
            .ProducesServiceProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status503ServiceUnavailable);
        group.MapDelete("/{name}/versions/{version:int}", DeleteVersion).WithName("DeleteModelVersion").RequireAdminScope().WritesToStore().WithSummary("Delete a version that is not the default.")
            .WithDescription("Needs an administration key when keys are configured; 403 on a read-only replica. The default version cannot be deleted (409): switch the default first.")
            .ProducesServiceProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        return app;
    }

    public static Ok<List<ModelSummary>> List(ModelStore store, ModelRegistry registry) =>
        TypedResults.Ok(store.Names().Select(name =>
        {
            var versions = store.Versions(name);
            if (store.DefaultVersion(name) is not { } version)
            {
                return new ModelSummary(name, null, versions, null, null, null, "The model has no default version.");
            }

            try
            {
                var model = store.Manifest(name, version).Model;
                return new ModelSummary(name, version, versions, ModelSchema.TaskName(model.Network.Head.Kind), model.Network.Inputs, model.OutputNames, registry.FailureOf(name, version));
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                return new ModelSummary(name, version, versions, null, null, null, e.Message);
            }
        }).ToList());

    /// <param name="name">The model's name (GET /models lists them).</param>
    public static Ok<ModelDetails> Get(string name, ModelStore store, ModelRegistry registry) =>
        TypedResults.Ok(Details(store, registry, name));

    /// <param name="name">The model's name (GET /models lists them).</param>
    public static async Task<Ok<ModelDetails>> SetDefaultVersion(string name, SetDefaultVersionRequest request, ModelStore store, ModelRegistry registry, CancellationToken cancellationToken)
    {
        await registry.SetDefaultAsync(name, request.Version ?? throw new RequestValidationException("version", "Give the version to serve by default."), cancellationToken);
        return TypedResults.Ok(Details(store, registry, name));
    }

    /// <param name="name">The model's name (GET /models lists them).</param>
    /// <param name="version">The model version (GET /models/{name} lists them).</param>
    public static async Task<NoContent> DeleteVersion(string name, int version, ModelRegistry registry, CancellationToken cancellationToken)
    {
        await registry.DeleteAsync(name, version, cancellationToken);
        return TypedResults.NoContent();
    }

    private static ModelDetails Details(ModelStore store, ModelRegistry registry, string name)
    {
        var defaultVersion = registry.Resolve(name, null);
        ModelDescription model;
        try
        {
            model = store.Manifest(name, defaultVersion).Model;
        }
        catch (InvalidDataException e)
        {
            throw new ModelUnavailableException(name, defaultVersion, e.Message);
        }

        var versions = store.Versions(name).Select(v =>
        {
            try
            {
                var manifest = store.Manifest(name, v);
                return new VersionInfo(v, manifest.CreatedAt, manifest.WeightsSha256, TrainingInfo.From(manifest.Model.Training), registry.FailureOf(name, v));
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                return new VersionInfo(v, null, null, null, e.Message);
            }
        }).ToList();
        var schema = ModelSchema.Of(model);
        return new ModelDetails(name, defaultVersion, versions, schema.Task, schema.Inputs, model.OutputNames, model.Network, model.Description, ModelExamples.Of(model)) {
            TrainingData = model.TrainingData,
            Tuning = model.Tuning,
            Image = model.Image,
            Text = model.Text is { } text ? new TextDetails(Uncertainty.Model.Text.WordTokenizer.RulesVersion, text.Tokenizer.VocabularySize, text.Preprocessing.ToString().ToLowerInvariant(), model.Network.ResolvedInputShape[0]) : null,
            Forecast = model.Forecast,
        };
    }
}
