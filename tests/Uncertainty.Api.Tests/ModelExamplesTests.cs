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
