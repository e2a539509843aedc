using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Models;
using Uncertainty.Api.Security;
using Uncertainty.Model.Data;
using Uncertainty.Model.Training;

namespace Uncertainty.Api.Training;

public static class TrainingJobsApi
{
    public static IEndpointRouteBuilder MapTrainingJobsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/training-jobs").WithTags("Training");
        group.MapPost("/", Submit)
            .WithName("SubmitTrainingJob")
            .WithSummary("Train a dropout network on a bundled dataset or CSV data (JSON body, or multipart: part 'data' the CSV file, part 'request' the JSON); 202 with the job's Location.")
            .Accepts<TrainingJobRequest>("application/json", "multipart/form-data")
            .DisableAntiforgery()
            .AcceptsUploads()
            .RequireApiKey()
            .WritesToStore();
        group.MapGet("/", List).WithName("ListTrainingJobs").WithSummary("Every training job, newest first.");
        group.MapGet("/{id}", Get).WithName("GetTrainingJob").WithSummary("A job's state, epoch, losses, validation metric, learning curve, ETA and, once done, the model version it saved.");
        group.MapDelete("/{id}", Cancel).WithName("CancelTrainingJob").WithSummary("Cancel a job: a queued one at once, a running one after its current epoch.").RequireApiKey().WritesToStore();
        return app;
    }

    public static async Task<Results<Accepted<TrainingJob>, ValidationProblem, ProblemHttpResult>> Submit(
        HttpRequest http, TrainingJobRunner runner, IOptions<UncertaintyOptions> options, CancellationToken cancellationToken)
    {
        TrainingJobRequest? request;
        try
        {
            request = await RequestBodies.ReadJsonOrFormAsync<TrainingJobRequest>(http, (r, csv) => r with { Csv = csv, Dataset = null }, cancellationToken);
        }
        catch (JsonException e)
        {
            return RequestBodies.Invalid("request", $"The request is not valid JSON for a training job: {RequestBodies.Describe(e)}");
        }

        if (request is null)
        {
            return RequestBodies.Invalid("request", "Send a JSON training request, or multipart form data with parts 'request' (JSON) and 'data' (CSV).");
        }

        var errors = Check(request, options.Value);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        Dataset data;
        try
        {
            data = TrainingJobStore.Read(request);
            if (data.ClassLabels is { Count: < 2 } labels)
            {
                return RequestBodies.Invalid("target", $"The target '{data.TargetName}' holds {labels.Count} class; a classifier needs at least 2 (a numeric target trains a regressor).");
            }

            TrainingPipeline.Fitted((request.Network ?? new NetworkRequest()).ToSpec(data.Task), data);
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FormatException)
        {
            var field = request.Csv is null ? "dataset" : "data";
            return RequestBodies.Invalid(e.Message.StartsWith("Network spec", StringComparison.Ordinal) ? "network" : field, e.Message);
        }

        try
        {
            var job = runner.Submit(request, data.Rows);
            return TypedResults.Accepted($"/training-jobs/{job.Id}", job);
        }
        catch (TrainingQueueFullException e)
        {
            http.HttpContext.Response.Headers.RetryAfter = "30";
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status429TooManyRequests, title: "Training queue full");
        }
    }

    public static Ok<IReadOnlyList<TrainingJob>> List(TrainingJobRunner runner) => TypedResults.Ok(runner.List());

    public static Results<Ok<TrainingJob>, ProblemHttpResult> Get(string id, TrainingJobRunner runner) =>
        runner.Find(id) is { } job ? TypedResults.Ok(job) : NotFound(id);

    public static Results<Accepted<TrainingJob>, ProblemHttpResult> Cancel(string id, TrainingJobRunner runner)
    {
        if (runner.Find(id) is not { } existing)
        {
            return NotFound(id);
        }

        if (existing.Finished)
        {
            return TypedResults.Problem($"Job {id} has already finished ({existing.State.ToString().ToLowerInvariant()}).", statusCode: StatusCodes.Status409Conflict, title: "Job finished");
        }

        return TypedResults.Accepted($"/training-jobs/{id}", runner.Cancel(id)!);
    }

    private static Dictionary<string, string[]> Check(TrainingJobRequest request, UncertaintyOptions options)
    {
        var errors = new Dictionary<string, string[]>();
        if (request.Model is null || !ModelStore.ValidName().IsMatch(request.Model))
        {
            errors["model"] = [$"Name the model to train with a name matching {ModelStore.ValidName()}."];
        }

        if ((request.Dataset is null) == (request.Csv is null))
        {
            errors["dataset"] = [$"Give either a bundled dataset ({string.Join(", ", BundledDatasets.All.Select(d => d.Name))}) or CSV data, not both or neither."];
        }

        if (request.Training is { } training)
        {
            if (training.Epochs > options.MaxTrainingEpochs)
            {
                errors["training.epochs"] = [$"At most {options.MaxTrainingEpochs} epochs; got {training.Epochs}."];
            }

            try
            {
                training.Validate();
            }
            catch (ArgumentException e)
            {
                errors["training"] = [e.Message];
            }
        }

        if (request.Network is { } network)
        {
            try
            {
                network.ToSpec(TaskKind.Regression).Validate();
            }
            catch (ArgumentException e)
            {
                errors["network"] = [e.Message];
            }
        }

        return errors;
    }

    private static ProblemHttpResult NotFound(string id) =>
        TypedResults.Problem($"There is no training job '{id}'.", statusCode: StatusCodes.Status404NotFound, title: "Training job not found");
}
