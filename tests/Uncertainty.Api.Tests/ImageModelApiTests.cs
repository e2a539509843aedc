using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Uncertainty.Model.Data;

namespace Uncertainty.Api.Tests;

/// <summary>Image networks through training jobs, import and evaluation (OOD detection included).</summary>
public sealed class ImageModelApiTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly object SmallCnn = new
    {
        inputShape = new[] { 1, 8, 8 },
        layers = new object[]
        {
            new { type = "conv2d", @out = 8, kernel = 3, padding = 1 },
            new { type = "relu" },
            new { type = "dropout2d", p = 0.1 },
            new { type = "maxPool2d", kernel = 2 },
            new { type = "flatten" },
            new { type = "linear", @out = 10 },
        },
    };

    [Fact]
    public async Task A_training_job_takes_a_layer_list_and_the_model_serves_pictures_shaped_rows()
    {
        var client = await factory.ReadyClientAsync();

        var job = await ServingCoreTests.FinishedJobAsync(client, await client.PostAsJsonAsync("/training-jobs", new
        {
            model = "cnn-digits",
            dataset = "digits",
            network = SmallCnn,
            training = new { epochs = 3, batchSize = 32, learningRate = 0.003, seed = 1, image = new { height = 8, width = 8, maxShift = 1 } },
        }));
        var details = await client.GetFromJsonAsync<JsonElement>("/models/cnn-digits", Json);
        var prediction = await client.PostAsJsonAsync("/models/cnn-digits/predict", new { inputs = new[] { BundledDatasets.Load("digits").Features[..64] }, seed = 1 });

        Assert.True(job.GetProperty("state").GetString() == "succeeded", job.GetRawText());
        Assert.Equal("conv2d", details.GetProperty("network").GetProperty("layers")[0].GetProperty("type").GetString());
        Assert.Equal(16, details.GetProperty("image").GetProperty("pixelMax").GetDouble());
        Assert.Equal(HttpStatusCode.OK, prediction.StatusCode);
    }

    [Fact]
    public async Task A_layer_list_that_does_not_fit_the_data_is_refused_before_training()
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/training-jobs", new
        {
            model = "cnn-bad",
            dataset = "digits",
            network = new { inputShape = new[] { 1, 28, 28 }, layers = new object[] { new { type = "flatten" }, new { type = "linear", @out = 10 } } },
        });

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetRawText().Contains("784 values per row; digits has 64 columns", StringComparison.Ordinal), problem.GetRawText());
    }

    [Fact]
    public async Task The_digits_model_is_scored_on_the_test_split_of_its_dataset_and_says_so()
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/models/digits/evaluate", new { dataset = "digits", samples = 20 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Json);
        Assert.Equal("digits (test split)", body.GetProperty("data").GetString());
        Assert.Equal(ImageDatasets.LoadDigits(ImageSplit.Test).Count, body.GetProperty("report").GetProperty("rows").GetInt32());
        Assert.True(body.GetProperty("report").GetProperty("mcDropoutClassification").GetProperty("accuracy").GetDouble() > 0.9);
    }

    [Fact]
    public async Task OOD_scores_need_a_dataset_of_the_models_picture_shape()
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/models/digits/evaluate", new { dataset = "digits", oodDataset = "fashion-mnist" });

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("28x28 pictures; the model reads [1, 8, 8]", problem.GetRawText(), StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> RefusedJobs() => new()
    {
        // Batch 256 x (16 x 254 x 254 values in four layers): gigabytes of activations kept for backward.
        { """{"model":"huge","dataset":"digits","training":{"batchSize":256},"network":{"inputShape":[1,8,8],"layers":[{"type":"conv2d","out":16,"kernel":3,"padding":124},{"type":"relu"},{"type":"dropout","p":0.1},{"type":"conv2d","out":16,"kernel":3,"padding":1},{"type":"adaptiveAvgPool2d","size":1},{"type":"flatten"},{"type":"linear","out":10}]}}""", "422", "MaxTrainingActivationValues" },
        { """{"model":"c","dataset":"digits","training":{"image":{"height":9,"width":9}},"network":{"inputShape":[1,8,8],"layers":[{"type":"flatten"},{"type":"linear","out":10}]}}""", "400", "9x9 images does not fit the network's 8x8 input" },
        { """{"model":"c","dataset":"digits","network":{"inputShape":[5],"layers":[{"type":"linear","out":10}]}}""", "400", "reads [5] = 5 values per row; digits has 64 columns" },
        { """{"model":"c","dataset":"digits","network":{"hidden":[8],"layers":[{"type":"flatten"},{"type":"linear","out":10}]}}""", "400", "replaces the MLP fields" },
    };

    [Theory]
    [MemberData(nameof(RefusedJobs))]
    public async Task Jobs_that_would_not_fit_are_refused_when_submitted(string body, string status, string message)
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsync("/training-jobs", new StringContent(body, Encoding.UTF8, "application/json"));

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture) == status, text);
        Assert.True(text.Contains(message, StringComparison.Ordinal), text);
    }

    [Fact]
    public async Task OOD_scores_refuse_fewer_than_two_rows()
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/models/digits/evaluate", new { dataset = "digits", oodDataset = "digits", maxRows = 1 });

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("2 with oodDataset", problem.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_version_whose_pixels_mean_something_else_is_a_schema_change()
    {
        var client = await factory.ReadyClientAsync();
        var spec = new
        {
            inputShape = new[] { 1, 8, 8 },
            layers = new object[] { new { type = "flatten" }, new { type = "linear", @out = 10 } },
            head = new { kind = "classification", outputs = 10 },
        };
        var weights = Safetensors(new() { ["1.weight"] = ([10, 64], 0.1f), ["1.bias"] = ([10], 0.1f) });
        using var form = new MultipartFormDataContent
        {
            // PyTorch's 0-1 pixels, where the built-in digits model reads 0-16.
            { new StringContent(JsonSerializer.Serialize(new { network = spec, outputNames = Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)) }), Encoding.UTF8, "application/json"), "request" },
            { new ByteArrayContent(weights), "weights", "linear.safetensors" },
        };

        var response = await client.PostAsync("/models/digits/import", form);

        var problem = await Problems.ReadAsync(response, HttpStatusCode.Conflict);
        Assert.Contains("pixels 0-16 on a dark background vs pixels 0-1 on a dark background", problem.GetRawText(), StringComparison.Ordinal);
    }

    [ImageDataFact]
    public async Task A_PyTorch_CNN_imports_with_per_channel_normalisation_and_reports_OOD_scores_against_another_image_set()
    {
        var client = await factory.ReadyClientAsync();
        var spec = new
        {
            inputShape = new[] { 1, 28, 28 },
            layers = new object[]
            {
                new { type = "conv2d", @out = 4, kernel = 5, stride = 2 },
                new { type = "relu" },
                new { type = "dropout2d", p = 0.2 },
                new { type = "flatten" },
                new { type = "linear", @out = 10 },
            },
            head = new { kind = "classification", outputs = 10 },
        };
        // Weights under PyTorch ModuleList names, as safetensors: 0.weight [4,1,5,5], 0.bias [4], 4.weight [10, 576], 4.bias [10].
        var weights = Safetensors(new() { ["0.weight"] = ([4, 1, 5, 5], 0.2f), ["0.bias"] = ([4], 0.1f), ["4.weight"] = ([10, 576], 0.05f), ["4.bias"] = ([10], 0.1f) });
        using var form = new MultipartFormDataContent
        {
            { new StringContent(JsonSerializer.Serialize(new { network = spec, inputMean = new[] { 0.1307 }, inputStd = new[] { 0.3081 }, image = new { channels = 1, height = 28, width = 28, pixelMax = 255, background = "dark" } }), Encoding.UTF8, "application/json"), "request" },
            { new ByteArrayContent(weights), "weights", "cnn.safetensors" },
        };

        var imported = await client.PostAsync("/models/mnist-cnn/import", form);
        var evaluation = await client.PostAsJsonAsync("/models/mnist-cnn/evaluate", new { dataset = "mnist", oodDataset = "fashion-mnist", maxRows = 60, samples = 10 });

        Assert.Equal(HttpStatusCode.Created, imported.StatusCode);
        Assert.Equal(HttpStatusCode.OK, evaluation.StatusCode);
        var body = await evaluation.Content.ReadFromJsonAsync<JsonElement>(Json);
        var ood = body.GetProperty("outOfDistribution");
        Assert.Equal(60, ood.GetProperty("outOfDistributionRows").GetInt32());
        foreach (var score in new[] { "predictiveEntropy", "mutualInformation", "maxProbability", "deterministicMaxProbability" })
        {
            Assert.InRange(ood.GetProperty("detection").GetProperty(score).GetProperty("auroc").GetDouble(), 0, 1);
            Assert.InRange(ood.GetProperty("selective").GetProperty(score).GetProperty("accuracyAt90").GetDouble(), 0, 1);
        }
    }

    /// <summary>A safetensors file of float32 tensors filled with a deterministic pattern of the given scale.</summary>
    private static byte[] Safetensors(Dictionary<string, (int[] Shape, float Scale)> tensors)
    {
        var header = new Dictionary<string, object>();
        using var data = new MemoryStream();
        foreach (var (name, (shape, scale)) in tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            long begin = data.Length, count = shape.Aggregate(1L, (a, b) => a * b);
            for (long i = 0; i < count; i++)
            {
                data.Write(BitConverter.GetBytes(scale * (float)Math.Sin((i * 0.7) + name.Length)));
            }

            header[name] = new { dtype = "F32", shape, data_offsets = new[] { begin, data.Length } };
        }

        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        return [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. data.ToArray()];
    }

    /// <summary>
    /// Runs where MNIST and Fashion-MNIST are in the data cache, and always where UNCERTAINTY_DATA_CACHE is set (CI fetches
    /// both there first, so a missing fetch fails instead of skipping); skipped on a fresh machine that never fetched them.
    /// </summary>
    private sealed class ImageDataFactAttribute : FactAttribute
    {
        public ImageDataFactAttribute()
        {
            var cache = new DataCache();
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(DataCache.DirectoryVariable)) && !(cache.Contains("mnist") && cache.Contains("fashion-mnist")))
            {
                Skip = $"MNIST and Fashion-MNIST are not in the data cache; `{DataCache.FetchCommand("mnist")}` and `{DataCache.FetchCommand("fashion-mnist")}` put them there.";
            }
        }
    }
}
