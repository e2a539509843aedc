using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Uncertainty.Api.Evaluation;
using Uncertainty.Api.Models;
using Uncertainty.Api.Training;
using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;

namespace Uncertainty.Api.Tests;

/// <summary>Evaluation scores the rows a model never saw by default, and says which rows it scored.</summary>
public sealed class HeldOutEvaluationTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task The_built_in_boston_model_records_a_seeded_fifth_of_boston_as_held_out()
    {
        var client = await factory.ReadyClientAsync();

        var details = await client.GetFromJsonAsync<ModelDetails>("/models/boston", Json);

        var record = details!.TrainingData!;
        Assert.Equal("boston", record.Dataset);
        Assert.Equal(506, record.Rows);
        Assert.Equal(Splits.Random(506, DefaultModels.BostonTestFraction, 2016).Test, record.HeldOutRows());
    }

    [Fact]
    public async Task Evaluating_on_the_training_dataset_scores_exactly_the_held_out_rows_by_default()
    {
        var client = await factory.ReadyClientAsync();
        var heldOut = (await client.GetFromJsonAsync<ModelDetails>("/models/boston", Json))!.TrainingData!.HeldOutRows();

        var response = await client.PostAsJsonAsync("/models/boston/evaluate", new { dataset = "boston", samples = 50, seed = 3 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = (await response.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!;
        Assert.Equal(EvaluationRows.HeldOut, result.Scored.Rows);
        Assert.False(result.Scored.IncludesTrainingRows);
        Assert.Equal(heldOut.Length, result.Scored.Count);
        Assert.Equal(506, result.Scored.Of);
        Assert.Equal(heldOut, result.Scored.IndexList());
        Assert.Equal(heldOut.Length, result.Report.Rows);
        Assert.Equal($"held-out split recorded at training: {heldOut.Length} of 506 rows", result.Scored.Reason);

        // The same rows alone, as a CSV that is not the training data (so all of it is scored), give the same scores.
        var alone = await client.PostAsJsonAsync("/models/boston/evaluate", new { csv = CsvOf(BundledDatasets.Load("boston").Subset(heldOut)), samples = 50, seed = 3 });
        var reference = (await alone.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!;
        Assert.Equal(EvaluationRows.All, reference.Scored.Rows);
        Assert.Equal(heldOut.Length, reference.Report.Rows);
        Assert.Equal(reference.Report.McDropout!.Rmse, result.Report.McDropout!.Rmse, 1e-9); // same rows, seed and batches: the same arithmetic
        Assert.Equal(reference.Report.McDropout.LogLikelihood, result.Report.McDropout.LogLikelihood, 1e-9);
    }

    [Fact]
    public async Task An_upload_of_the_bundled_training_file_itself_is_the_training_data_held_out_rows_by_default()
    {
        var client = await factory.ReadyClientAsync();
        using var stream = typeof(BundledDatasets).Assembly.GetManifestResourceStream("Uncertainty.Data.boston.csv")!;
        var csv = await new StreamReader(stream).ReadToEndAsync(); // data/boston.csv as a user downloads it

        var byDefault = await client.PostAsJsonAsync("/models/boston/evaluate", new { csv, samples = 5, maxRows = 3 });
        var all = await client.PostAsJsonAsync("/models/boston/evaluate", new { csv, samples = 5, rows = "all", maxRows = 3 });

        var scored = (await byDefault.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("scored");
        Assert.Equal("heldOut", scored.GetProperty("rows").GetString());
        Assert.False(scored.GetProperty("includesTrainingRows").GetBoolean());
        Assert.True((await all.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("scored").GetProperty("includesTrainingRows").GetBoolean());
    }

    [Fact]
    public async Task Rows_all_scores_every_row_and_says_training_rows_are_included()
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/models/boston/evaluate", new { dataset = "boston", samples = 20, rows = "all" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = (await response.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!;
        Assert.Equal(EvaluationRows.All, result.Scored.Rows);
        Assert.True(result.Scored.IncludesTrainingRows);
        Assert.Equal(506, result.Scored.Count);
        Assert.Equal(506, result.Report.Rows);
        Assert.Contains("trained on", result.Scored.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Other_data_is_scored_whole_and_held_out_rows_of_it_are_refused_naming_rows()
    {
        var client = await factory.ReadyClientAsync();
        var csv = CsvOf(BundledDatasets.Load("boston").Take(30));

        var response = await client.PostAsJsonAsync("/models/boston/evaluate", new { csv, samples = 20 });
        var refused = await client.PostAsJsonAsync("/models/boston/evaluate", new { csv, samples = 20, rows = "heldOut" });

        var result = (await response.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!;
        Assert.Equal(EvaluationRows.All, result.Scored.Rows);
        Assert.Equal(30, result.Scored.Count);
        Assert.StartsWith("not the model's training data (boston)", result.Scored.Reason, StringComparison.Ordinal);
        var problem = await Problems.ReadAsync(refused, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("rows", out _), problem.ToString());
    }

    [Theory]
    [InlineData("\"training\"")]
    [InlineData("0")]
    [InlineData("1")]
    [InlineData("7")]
    public async Task A_rows_value_that_is_not_heldOut_or_all_is_a_400_that_names_rows(string rows)
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsync("/models/boston/evaluate", new StringContent($$"""{"dataset": "boston", "samples": 2, "rows": {{rows}}}""", Encoding.UTF8, "application/json"));

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("rows", problem.GetProperty("errors").ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_digits_built_in_holds_out_the_digits_test_split_which_evaluation_scores_by_default()
    {
        var client = await factory.ReadyClientAsync();
        var (rows, test) = ImageDatasets.RowsOf("digits", ImageSplit.Test);

        var details = await client.GetFromJsonAsync<ModelDetails>("/models/digits", Json);
        var response = await client.PostAsJsonAsync("/models/digits/evaluate", new { dataset = "digits", samples = 10 });

        Assert.Equal(test, details!.TrainingData!.HeldOutRows());
        Assert.Equal(rows, details.TrainingData.Rows);
        var result = (await response.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!;
        Assert.Equal(EvaluationRows.HeldOut, result.Scored.Rows);
        Assert.Equal(test.Length, result.Report.Rows);
        Assert.Equal(test, result.Scored.IndexList());
    }

    [Fact]
    public async Task A_job_on_an_uploaded_csv_records_its_hash_and_held_out_rows_which_the_same_csv_then_scores()
    {
        var client = await factory.ReadyClientAsync();
        var csv = CsvOf(BundledDatasets.Load("boston").Take(80));
        var submitted = await client.PostAsJsonAsync("/training-jobs", new { model = "upload-split", csv, target = "medv", testFraction = 0.25, training = new { epochs = 3, batchSize = 16, seed = 7 } });
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var job = await WaitAsync(client, submitted.Headers.Location!.ToString());
        Assert.Equal(JobState.Succeeded, job.State);

        var record = (await client.GetFromJsonAsync<ModelDetails>("/models/upload-split", Json))!.TrainingData!;
        var response = await client.PostAsJsonAsync("/models/upload-split/evaluate", new { csv, samples = 10 });

        var expected = Splits.Random(80, 0.25, 7).Test;
        Assert.Null(record.Dataset);
        Assert.Equal(TrainingData.HashOf(csv), record.Sha256);
        Assert.Equal(expected, record.HeldOutRows());
        var result = (await response.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!;
        Assert.Equal(EvaluationRows.HeldOut, result.Scored.Rows);
        Assert.Equal(expected, result.Scored.IndexList());
        Assert.Equal(expected.Length, result.Report.Rows);
    }

    [Fact]
    public async Task A_job_with_tune_chooses_dropout_and_tau_from_its_grid_and_the_model_reports_the_scores()
    {
        var client = await factory.ReadyClientAsync();
        var submitted = await client.PostAsJsonAsync("/training-jobs", new
        {
            model = "tuned",
            dataset = "boston",
            network = new { hidden = new[] { 16 } },
            training = new { epochs = 4, batchSize = 64, seed = 3 },
            tune = new { dropout = new[] { 0.01, 0.1 }, tau = new[] { 0.5, 2.0, 8.0 }, samples = 50 },
        });
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var job = await WaitAsync(client, submitted.Headers.Location!.ToString());
        Assert.Equal(JobState.Succeeded, job.State);

        var details = (await client.GetFromJsonAsync<ModelDetails>("/models/tuned", Json))!;
        var tuning = details.Tuning!;
        Assert.Equal(6, tuning.Grid.Count);
        var best = tuning.Grid.MaxBy(p => p.ValidationLogLikelihood)!;
        Assert.Equal((best.Dropout, best.Tau), (tuning.Dropout, tuning.Tau));
        Assert.Equal(tuning.Dropout, details.Network.InputDropout);
        Assert.Equal(tuning.Tau, details.Network.Head.Tau);
        Assert.Equal(506, tuning.FitRows + tuning.ValidationRows);
        Assert.All(tuning.Grid, p => Assert.True(double.IsFinite(p.ValidationLogLikelihood)));
    }

    [Fact]
    public async Task A_regression_job_stating_no_rate_and_no_tau_tunes_on_the_default_grid_and_one_stating_a_rate_does_not()
    {
        var client = await factory.ReadyClientAsync();
        var training = new { epochs = 3, batchSize = 64, seed = 4 };
        var jobs = new[]
        {
            await client.PostAsJsonAsync("/training-jobs", new { model = "tuned-by-default", dataset = "boston", network = new { hidden = new[] { 8 } }, training }),
            await client.PostAsJsonAsync("/training-jobs", new { model = "rate-given", dataset = "boston", network = new { hidden = new[] { 8 }, hiddenDropout = new[] { 0.2 } }, training }),
            await client.PostAsJsonAsync("/training-jobs", new { model = "tau-given", dataset = "boston", network = new { hidden = new[] { 8 }, tau = 3.0 }, training }),
            await client.PostAsJsonAsync("/training-jobs", new { model = "classifier-untuned", dataset = "breast_cancer", network = new { hidden = new[] { 8 } }, training }),
        };
        foreach (var submitted in jobs)
        {
            Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
            Assert.Equal(JobState.Succeeded, (await WaitAsync(client, submitted.Headers.Location!.ToString())).State);
        }

        var tuned = (await client.GetFromJsonAsync<ModelDetails>("/models/tuned-by-default", Json))!;
        var grid = new TuneOptions();
        Assert.Equal(grid.Dropout.Count * grid.Tau.Count, tuned.Tuning!.Grid.Count);
        Assert.Equal(grid.Dropout.SelectMany(p => grid.Tau.Select(t => (p, t))), tuned.Tuning.Grid.Select(p => (p.Dropout, p.Tau)));
        Assert.Equal((tuned.Tuning.Dropout, tuned.Tuning.Tau), (tuned.Network.InputDropout, tuned.Network.Head.Tau));

        var rateGiven = (await client.GetFromJsonAsync<ModelDetails>("/models/rate-given", Json))!;
        Assert.Null(rateGiven.Tuning);
        Assert.Equal([0.2], rateGiven.Network.HiddenDropout);
        var tauGiven = (await client.GetFromJsonAsync<ModelDetails>("/models/tau-given", Json))!;
        Assert.Null(tauGiven.Tuning);
        Assert.Equal(3.0, tauGiven.Network.Head.Tau);
        Assert.Null((await client.GetFromJsonAsync<ModelDetails>("/models/classifier-untuned", Json))!.Tuning);
    }

    [Theory]
    [InlineData("{\"model\": \"t\", \"dataset\": \"boston\", \"tune\": {\"dropout\": [1.5]}}", "'dropout'")]
    [InlineData("{\"model\": \"t\", \"dataset\": \"boston\", \"tune\": {\"samples\": 0}}", "'samples'")]
    [InlineData("{\"model\": \"t\", \"dataset\": \"breast_cancer\", \"tune\": {}}", "class label")]
    [InlineData("{\"model\": \"t\", \"dataset\": \"boston\", \"network\": {\"normalization\": \"batchNorm\"}, \"tune\": {}}", "normalisation")]
    [InlineData("{\"model\": \"t\", \"dataset\": \"boston\", \"training\": {\"mixupAlpha\": 0.2}, \"tune\": {}}", "mixup")]
    [InlineData("{\"model\": \"t\", \"csv\": \"a,b\\n1,2\\n\", \"target\": \"b\", \"tune\": {}}", "at least 2")]
    public async Task A_tune_the_grid_cannot_run_is_a_400_naming_tune(string body, string reason)
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsync("/training-jobs", new StringContent(body, Encoding.UTF8, "application/json"));

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("tune", out var messages), problem.ToString());
        Assert.Contains(reason, messages.ToString());
    }

    [Fact]
    public async Task A_tune_whose_stacked_grid_is_over_the_parameter_limit_is_a_422_before_it_queues()
    {
        var client = await factory.ReadyClientAsync();
        double[] eight = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08];

        // One network of two 1,500-unit layers is 2.3 M parameters, under the 20 M limit; 64 of them are not.
        var response = await client.PostAsJsonAsync("/training-jobs", new { model = "too-wide", dataset = "boston", network = new { hidden = new[] { 1500, 1500 } }, tune = new { dropout = eight, tau = eight } });

        var problem = await Problems.ReadAsync(response, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("64 grid points", problem.GetProperty("detail").GetString());
        Assert.DoesNotContain((await client.GetFromJsonAsync<TrainingJob[]>("/training-jobs", Json))!, j => j.Model == "too-wide");
    }

    [Fact]
    public async Task A_test_fraction_outside_zero_to_one_is_a_400_naming_it()
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/training-jobs", new { model = "bad-split", dataset = "boston", testFraction = 1.5 });

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("testFraction", out _), problem.ToString());
    }

    [Fact]
    public async Task A_package_without_a_recorded_split_is_scored_whole_and_says_so()
    {
        using var legacy = new UncertaintyApiFactory();
        legacy.PrepareStore();
        using (var boston = DefaultModels.TrainBoston())
        {
            // As saved before splits were recorded: no trainingData in the manifest.
            new ModelPackage(boston.Description with { TrainingData = null }, boston.Network).Save(Path.Combine(legacy.ModelStore, "legacy", "1"));
        }

        File.WriteAllText(Path.Combine(legacy.ModelStore, "legacy", "default-version"), "1");
        var client = await legacy.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/models/legacy/evaluate", new { dataset = "boston", samples = 10 });
        var refused = await client.PostAsJsonAsync("/models/legacy/evaluate", new { dataset = "boston", samples = 10, rows = "heldOut" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = (await response.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!;
        Assert.Equal(EvaluationRows.All, result.Scored.Rows);
        Assert.Equal(506, result.Report.Rows);
        Assert.Equal("no held-out split recorded: all 506 rows", result.Scored.Reason);
        var problem = await Problems.ReadAsync(refused, HttpStatusCode.BadRequest);
        Assert.Contains("no held-out split recorded", problem.GetProperty("errors").GetProperty("rows")[0].GetString(), StringComparison.Ordinal);
    }

    /// <summary>The rows as CSV text with a header, every value written so it reads back as the same float.</summary>
    private static string CsvOf(Dataset data)
    {
        var text = new StringBuilder(string.Join(",", data.FeatureNames.Append(data.TargetName))).Append('\n');
        for (int r = 0; r < data.Rows; r++)
        {
            var values = data.Features.AsSpan(r * data.Columns, data.Columns).ToArray().Append(data.Targets[r]);
            text.Append(string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))).Append('\n');
        }

        return text.ToString();
    }

    private static async Task<TrainingJob> WaitAsync(HttpClient client, string location)
    {
        for (int i = 0; i < 1200; i++)
        {
            var job = (await client.GetFromJsonAsync<TrainingJob>(location, Json))!;
            if (job.Finished)
            {
                return job;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("The training job did not finish in 60 s.");
    }
}
