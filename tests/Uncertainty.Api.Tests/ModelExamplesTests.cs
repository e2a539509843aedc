using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Uncertainty.Api.Evaluation;
using Uncertainty.Api.Models;
using Uncertainty.Api.Predictions;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Tests;

/// <summary>GET /models/{name} examples paste into /predict as they are, with their targets beside them.</summary>
public sealed class ModelExamplesTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task Every_built_in_models_examples_are_accepted_by_predict_and_their_targets_by_evaluate()
    {
        // Room for all of toy's 256 rows (one-input models keep every row up to 512 for the plot).
        using var factory = new UncertaintyApiFactory { Settings = { ["Uncertainty:MaxRowsPerRequest"] = "1000" } };
        var client = await factory.ReadyClientAsync();
        var withExamples = new List<string>();

        foreach (var name in DefaultModels.Names)
        {
            var details = (await client.GetFromJsonAsync<ModelDetails>($"/models/{name}", Json))!;
            if (details.Examples is not { } examples)
            {
                continue; // text and forecast models keep no rows (their explorer views carry their own examples)
            }

            withExamples.Add(name);
            var predict = await client.PostAsJsonAsync($"/models/{name}/predict", new { inputs = examples.Inputs, samples = 5 });
            Assert.True(predict.StatusCode == HttpStatusCode.OK, $"{name}: {await predict.Content.ReadAsStringAsync()}");
            Assert.Equal(examples.Inputs.Count, (await predict.Content.ReadFromJsonAsync<PredictResponse>(Json))!.Predictions.Count);
            Assert.All(examples.Inputs, row => Assert.Equal(details.Network.Inputs, row.Length));

            var classifier = details.Task == "classification";
            Assert.Equal(classifier, examples.Labels is not null);
            Assert.Equal(classifier, examples.Targets is null);
            object targets = classifier ? examples.Labels! : examples.Targets!;
            var evaluate = await client.PostAsJsonAsync($"/models/{name}/evaluate", new { inputs = examples.Inputs, targets, samples = 5 });
            Assert.True(evaluate.StatusCode == HttpStatusCode.OK, $"{name}: {await evaluate.Content.ReadAsStringAsync()}");
            Assert.Equal(examples.Inputs.Count, (await evaluate.Content.ReadFromJsonAsync<EvaluateResponse>(Json))!.Report.Rows);
        }

        Assert.Equal(["boston", "toy", "digits"], withExamples);
    }

    [Fact]
    public async Task Trained_tabular_and_token_classifiers_examples_are_accepted_by_predict()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        // Token ids padded with 0 at the end, as a text model's rows are; 0 is padding, which /predict refuses inside a row.
        var tokens = "t0,t1,t2,t3,label\n" + string.Concat(Enumerable.Range(0, 24).Select(i => i % 2 == 0 ? $"{1 + (i % 5)},{2 + (i % 3)},0,0,ham\n" : $"{5 + (i % 4)},{6 + (i % 3)},9,0,spam\n"));
        var jobs = new[]
        {
            await client.PostAsJsonAsync("/training-jobs", new { model = "examples-cancer", dataset = "breast_cancer", training = new { epochs = 2, seed = 1 } }),
            await client.PostAsJsonAsync("/training-jobs", new
            {
                model = "examples-tokens",
                csv = tokens,
                network = new { inputShape = new[] { 4 }, layers = new object[] { new { type = "embedding", vocab = 10, dim = 4 }, new { type = "meanPool" }, new { type = "linear", @out = 2 } } },
                training = new { epochs = 2, batchSize = 8, seed = 1 },
            }),
        };
        foreach (var job in jobs)
        {
            Assert.Equal(HttpStatusCode.Accepted, job.StatusCode);
            for (int i = 0; i < 1200 && !(await client.GetFromJsonAsync<Training.TrainingJob>(job.Headers.Location, Json))!.Finished; i++)
            {
                await Task.Delay(50);
            }
        }

        foreach (var name in new[] { "examples-cancer", "examples-tokens" })
        {
            var examples = (await client.GetFromJsonAsync<ModelDetails>($"/models/{name}", Json))!.Examples!;
            var predict = await client.PostAsJsonAsync($"/models/{name}/predict", new { inputs = examples.Inputs, samples = 5 });

            Assert.True(predict.StatusCode == HttpStatusCode.OK, $"{name}: {await predict.Content.ReadAsStringAsync()}");
            Assert.Equal(5, examples.Inputs.Count);
            Assert.Equal(5, examples.Labels!.Count);
        }
    }

    [Fact]
    public void A_token_models_examples_drop_their_padding_and_name_their_class()
    {
        var model = new ModelDescription
        {
            Network = new NetworkSpec
            {
                InputShape = [4],
                Layers = [new LayerSpec { Type = LayerType.Embedding, Vocab = 10, Dim = 2 }, LayerSpec.Of(LayerType.MeanPool), LayerSpec.LinearTo(2)],
                Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 2 },
            }.Validate(),
            InputScaling = Uncertainty.Model.Data.Standardizer.Identity(4),
            OutputNames = ["ham", "spam"],
            Examples = [[3, 4, 0, 0, 1], [0, 0, 0, 0, 0], [5, 0, 6, 0, 1], [7, 8, 9, 2, 0]],
        };

        var examples = ModelExamples.Of(model)!;

        Assert.Equal([[3f, 4f], [7f, 8f, 9f, 2f]], examples.Inputs);
        Assert.Equal(["spam", "ham"], examples.Labels);
        Assert.Null(examples.Targets);
    }
}
