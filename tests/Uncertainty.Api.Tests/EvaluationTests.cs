using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Uncertainty.Api.Evaluation;
using Uncertainty.Api.Training;

namespace Uncertainty.Api.Tests;

public sealed class EvaluationTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task The_boston_model_scores_on_its_bundled_dataset_with_mc_beside_weight_scaling()
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/models/boston/evaluate", new { dataset = "boston", samples = 100, seed = 4 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = (await response.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!;
        Assert.Equal(101, result.Report.Rows); // the held-out fifth of 506 rows, round(101.2)
        Assert.Equal(100, result.Report.Samples);
        var mc = result.Report.McDropout!;
        Assert.InRange(mc.Rmse, 1.0, 6.0); // medv's std is 9.2 k$; rows the model never saw (Gal's test RMSE is ~2.9 +- 0.2 over 20 splits)
        Assert.True(mc.Mae <= mc.Rmse);
        Assert.InRange(mc.Coverage95, 0.8, 1.0);
        Assert.True(mc.Coverage90 <= mc.Coverage95);
        Assert.NotNull(result.Report.WeightScaling);
    }

    [Fact]
    public async Task Inline_rows_and_a_csv_upload_of_the_same_rows_score_the_same()
    {
        var client = await factory.ReadyClientAsync();
        var xs = Enumerable.Range(0, 40).Select(i => -1 + (i / 20.0)).ToArray();
        var ys = xs.Select(x => Math.Sin(3 * x)).ToArray();

        var inline = await client.PostAsJsonAsync("/models/toy/evaluate", new { inputs = xs.Select(x => new[] { x }), targets = ys, samples = 50, seed = 9 });
        var csv = "x,y\n" + string.Concat(xs.Zip(ys).Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.First:R},{p.Second:R}\n")));
        using var form = new MultipartFormDataContent
        {
            { new StringContent("""{"samples": 50, "seed": 9}""", Encoding.UTF8, "application/json"), "request" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(csv)), "data", "toy.csv" },
        };
        var uploaded = await client.PostAsync("/models/toy/evaluate", form);

        Assert.Equal(HttpStatusCode.OK, inline.StatusCode);
        Assert.Equal(HttpStatusCode.OK, uploaded.StatusCode);
        var a = (await inline.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!.Report.McDropout!;
        var b = (await uploaded.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!.Report.McDropout!;
        Assert.InRange(a.Rmse, 0, 0.3); // noise sd 0.1 in training; the fit of sin(3x) on [-1, 1] is close
        Assert.Equal(a.Rmse, b.Rmse, 1e-5);
        Assert.Equal(a.LogLikelihood, b.LogLikelihood, 1e-4);
    }

    [Fact]
    public async Task A_trained_classifier_reports_accuracy_calibration_and_fifteen_reliability_bins()
    {
        var client = await factory.ReadyClientAsync();
        var submitted = await client.PostAsJsonAsync("/training-jobs", new { model = "cancer", dataset = "breast_cancer", network = new { hidden = new[] { 32 } }, training = new { epochs = 15, batchSize = 32, seed = 1 } });
        var location = submitted.Headers.Location!.ToString();
        for (int i = 0; i < 1200 && !(await client.GetFromJsonAsync<TrainingJob>(location, Json))!.Finished; i++)
        {
            await Task.Delay(50);
        }

        var response = await client.PostAsJsonAsync("/models/cancer/evaluate", new { dataset = "breast_cancer", samples = 50 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var report = (await response.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!.Report;
        var mc = report.McDropoutClassification!;
        Assert.InRange(mc.Accuracy, 0.9, 1.0); // a small MLP separates this data to ~97 %
        Assert.InRange(mc.ExpectedCalibrationError, 0, 0.2);
        Assert.Equal(15, mc.Reliability.Count);
        Assert.Equal(569, mc.Reliability.Sum(bin => bin.Count));
        Assert.NotNull(report.WeightScalingClassification);
    }

    [Theory]
    [InlineData("""{"dataset": "boston", "inputs": [[0.1]], "targets": [1]}""", "dataset")]
    [InlineData("""{"inputs": [[0.1], [0.2]], "targets": [1]}""", "targets")]
    [InlineData("""{"inputs": [[0.1]], "targets": ["one"]}""", "targets[0]")]
    [InlineData("""{"inputs": [["NaN"]], "targets": [1]}""", "inputs[0][0]")]
    [InlineData("""{"dataset": "boston"}""", "dataset")]
    [InlineData("""{"csv": "a,y\n1,2\n"}""", "data")]
    [InlineData("""{"dataset": "no-such"}""", "dataset")]
    [InlineData("""{"inputs": [[0.1]], "targets": [1], "samples": 0}""", "samples")]
    [InlineData("""{"inputs": [[0.1]], "targets": [1], "rows": "heldOut"}""", "rows")]
    public async Task Bad_evaluation_requests_get_a_validation_problem_naming_the_field(string body, string field)
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsync("/models/toy/evaluate", new StringContent(body, Encoding.UTF8, "application/json"));

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"no error for '{field}' in {problem}");
    }

    [Fact]
    public async Task Evaluating_an_unknown_model_or_version_is_404()
    {
        var client = await factory.ReadyClientAsync();

        await Problems.ReadAsync(await client.PostAsJsonAsync("/models/nope/evaluate", new { dataset = "boston" }), HttpStatusCode.NotFound);
        await Problems.ReadAsync(await client.PostAsJsonAsync("/models/boston/evaluate", new { dataset = "boston", version = 99 }), HttpStatusCode.NotFound);
    }
}
