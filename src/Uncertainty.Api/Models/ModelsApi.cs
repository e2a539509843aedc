using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Security;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;

namespace Uncertainty.Api.Models;

public sealed record ModelSummary(string Name, int DefaultVersion, IReadOnlyList<int> Versions, string Task, int Inputs, IReadOnlyList<string>? Outputs);

public sealed record VersionInfo(int Version, DateTimeOffset CreatedAt, string WeightsSha256, TrainingInfo? Training);

/// <summary>What training reported, without the per-epoch history.</summary>
/// <param name="BestValidationMetric">At the best epoch: validation RMSE in target units (regression) or accuracy (classification).</param>
public sealed record TrainingInfo(int Epochs, int BestEpoch, int Rows, double FinalLoss, double? BestValidationLoss, double? BestValidationMetric, double Seconds)
{
    public static TrainingInfo? From(TrainingSummary? summary) => summary is null ? null
        : new TrainingInfo(
            summary.Epochs,
            summary.BestEpoch,
            summary.Rows,
            summary.FinalLoss,
            summary.BestValidationLoss,
            summary.History.FirstOrDefault(epoch => epoch.Epoch == summary.BestEpoch)?.ValidationMetric,
            summary.Seconds);
}

public sealed record ModelDetails(
    string Name,
    int DefaultVersion,
    IReadOnlyList<VersionInfo> Versions,
    string Task,
    IReadOnlyList<string> Inputs,
    IReadOnlyList<string>? Outputs,
    NetworkSpec Network,
    string? Description,
    IReadOnlyList<float[]>? Examples);

public sealed record SetDefaultVersionRequest(int Version);

public static class ModelsApi
{
    public static IEndpointRouteBuilder MapModelsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/models").WithTags("Models");
        group.MapGet("/", List).WithName("ListModels").WithSummary("The models in the store with their versions and default version.");
        group.MapGet("/{name}", Get).WithName("GetModel").WithSummary("A model's inputs (by name), outputs, task, versions with their training summary, and default version.");
        group.MapPut("/{name}/default-version", SetDefaultVersion).WithName("SetDefaultVersion").RequireApiKey().WritesToStore()
            .WithSummary("Switch the version a model serves by default; the new version is loaded first, so a version that fails to load leaves the current one serving.");
        group.MapDelete("/{name}/versions/{version:int}", DeleteVersion).WithName("DeleteModelVersion").RequireApiKey().WritesToStore().WithSummary("Delete a version that is not the default.");
        return app;
    }

    public static Ok<List<ModelSummary>> List(ModelStore store) =>
        TypedResults.Ok(store.Names().Select(name =>
        {
            var version = store.DefaultVersion(name)!.Value;
            var model = store.Manifest(name, version).Model;
            return new ModelSummary(name, version, store.Versions(name), Task(model.Network), model.Network.Inputs, model.OutputNames);
        }).ToList());

    public static Results<Ok<ModelDetails>, ValidationProblem, ProblemHttpResult> Get(string name, ModelStore store)
    {
        if (Find(store, name, null) is { } problem)
        {
            return problem;
        }

        return TypedResults.Ok(Details(store, name));
    }

    public static async Task<Results<Ok<ModelDetails>, ValidationProblem, ProblemHttpResult>> SetDefaultVersion(
        string name, SetDefaultVersionRequest request, ModelStore store, InferenceWorker worker, CancellationToken cancellationToken)
    {
        if (Find(store, name, request.Version) is { } problem)
        {
            return problem;
        }

        try
        {
            await worker.SetDefaultVersionAsync(name, request.Version, cancellationToken);
        }
        catch (InvalidDataException e)
        {
            return TypedResults.Problem($"Version {request.Version} of '{name}' failed to load, so the default is unchanged: {e.Message}", statusCode: StatusCodes.Status422UnprocessableEntity, title: "Model version cannot be loaded");
        }

        return TypedResults.Ok(Details(store, name));
    }

    public static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> DeleteVersion(
        string name, int version, ModelStore store, InferenceWorker worker, IOptions<UncertaintyOptions> options, CancellationToken cancellationToken)
    {
        if (Find(store, name, version) is { } problem)
        {
            return problem;
        }

        if (store.DefaultVersion(name) == version)
        {
            return TypedResults.Problem($"Version {version} is the default version of '{name}'; make another version the default first.", statusCode: StatusCodes.Status409Conflict, title: "Default version");
        }

        await worker.DeleteVersionAsync(name, version, cancellationToken);
        return TypedResults.NoContent();
    }

    /// <summary>Null when the model (and version) exist; otherwise the 400 (bad name, as a validation problem) or 404 to return.</summary>
    internal static ProblemHttpResult? Find(ModelStore store, string name, int? version)
    {
        if (!ModelStore.ValidName().IsMatch(name))
        {
            return TypedResults.Problem(new HttpValidationProblemDetails(new Dictionary<string, string[]> { ["name"] = [$"Model names match {ModelStore.ValidName()}."] })
            {
                Status = StatusCodes.Status400BadRequest,
            });
        }

        if (!store.Exists(name))
        {
            return TypedResults.Problem($"There is no model '{name}'.", statusCode: StatusCodes.Status404NotFound, title: "Model not found");
        }

        if (version is { } v && !store.Exists(name, v))
        {
            return TypedResults.Problem($"Model '{name}' has no version {v}; it has {string.Join(", ", store.Versions(name))}.", statusCode: StatusCodes.Status404NotFound, title: "Model version not found");
        }

        return null;
    }

    private static ModelDetails Details(ModelStore store, string name)
    {
        var defaultVersion = store.DefaultVersion(name)!.Value;
        var model = store.Manifest(name, defaultVersion).Model;
        var versions = store.Versions(name).Select(v =>
        {
            var manifest = store.Manifest(name, v);
            return new VersionInfo(v, manifest.CreatedAt, manifest.WeightsSha256, TrainingInfo.From(manifest.Model.Training));
        }).ToList();
        var inputs = model.FeatureNames ?? [.. Enumerable.Range(0, model.Network.Inputs).Select(i => $"x{i}")];
        return new ModelDetails(name, defaultVersion, versions, Task(model.Network), inputs, model.OutputNames, model.Network, model.Description, model.Examples);
    }

    private static string Task(NetworkSpec network) => network.Head.Kind switch
    {
        HeadKind.Classification => "classification",
        HeadKind.HeteroscedasticRegression => "heteroscedasticRegression",
        _ => "regression",
    };
}
