using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using TorchSharp.PyBridge;
using Uncertainty.Api.Models;
using Uncertainty.Api.Predictions;
using static TorchSharp.torch;

namespace Uncertainty.Api.Tests;

public sealed class ImportTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // A 1-4-1 ReLU network as a PyTorch nn.Sequential(Linear, ReLU, Dropout, Linear) would save it.
    private static readonly float[] W1 = [1.0f, -2.0f, 0.5f, 3.0f];
    private static readonly float[] B1 = [0.1f, 0.2f, -0.3f, 0.0f];
    private static readonly float[] W2 = [0.7f, -0.4f, 1.5f, 0.25f];
    private const float B2 = -0.05f;

    private const string Request = """{"network": {"inputs": 1, "hidden": [4], "hiddenDropout": [0.0], "head": {"tau": 4}}, "featureNames": ["x"], "outputNames": ["y"], "targetMean": [10], "targetStd": [2], "makeDefault": true}""";

    private static byte[] Safetensors(float[] w1, float[] b1, float[] w2, float b2, int hidden = 4)
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>
        {
            ["0.weight"] = tensor(w1).reshape(hidden, 1),
            ["0.bias"] = tensor(b1),
            ["3.weight"] = tensor(w2).reshape(1, hidden),
            ["3.bias"] = tensor(new[] { b2 }),
        };
        using var file = new MemoryStream();
        TorchSharp.PyBridge.Safetensors.SaveStateDict(file, tensors, leaveOpen: true);
        return file.ToArray();
    }

    private static MultipartFormDataContent Form(byte[] weights, string request, string fileName = "model.safetensors") => new()
    {
        { new StringContent(request, Encoding.UTF8, "application/json"), "request" },
        { new ByteArrayContent(weights), "weights", fileName },
    };

    private static double Expected(double x)
    {
        double output = B2;
        for (int i = 0; i < 4; i++)
        {
            output += W2[i] * Math.Max(0, (W1[i] * x) + B1[i]);
        }

        return 10 + (2 * output); // targetMean + targetStd * network output
    }

    [Fact]
    public async Task Imported_weights_serve_the_network_they_describe_and_a_failed_import_keeps_the_old_version()
    {
        var client = await factory.ReadyClientAsync();

        var created = await client.PostAsync("/models/imported/import", Form(Safetensors(W1, B1, W2, B2), Request));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var imported = (await created.Content.ReadFromJsonAsync<ImportResponse>(Json))!;
        Assert.True(imported.MadeDefault);

        var xs = new[] { -1.0, 0.0, 0.4, 2.0 };
        var response = await client.PostAsJsonAsync("/models/imported/predict", new { inputs = xs.Select(x => new[] { x }), samples = 8, seed = 1 });
        var prediction = (await response.Content.ReadFromJsonAsync<PredictResponse>(Json))!;
        for (int i = 0; i < xs.Length; i++)
        {
            Assert.Equal(Expected(xs[i]), prediction.Predictions[i].Mean[0], 1e-5); // no dropout: every pass is the same network
            Assert.Equal(0, prediction.Predictions[i].EpistemicVariance[0], 1e-9);
            Assert.Equal(4.0 / 4, prediction.Predictions[i].AleatoricVariance![0], 1e-9); // 1/tau in standardised units, times std^2
        }

        // Weights for a 5-unit layer do not fit the 4-unit spec: 422, nothing saved, version 1 still serves.
        var wrong = await client.PostAsync("/models/imported/import", Form(Safetensors([.. W1, 1], [.. B1, 0], [.. W2, 1], B2, hidden: 5), Request));
        var problem = await Problems.ReadAsync(wrong, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("0.weight", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var model = await client.GetFromJsonAsync<ModelDetails>("/models/imported", Json);
        Assert.Equal(imported.Version, model!.DefaultVersion);
        Assert.Equal([imported.Version], model.Versions.Select(v => v.Version));
        var still = await client.PostAsJsonAsync("/models/imported/predict", new { inputs = new[] { new[] { 0.4 } }, samples = 8, seed = 1 });
        Assert.Equal(Expected(0.4), (await still.Content.ReadFromJsonAsync<PredictResponse>(Json))!.Predictions[0].Mean[0], 1e-5);
    }

    [Theory]
    [InlineData("model.pt")]
    [InlineData("model.pth")]
    [InlineData("model.pkl")]
    public async Task Pickle_files_are_refused_with_the_reason(string fileName)
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsync("/models/pickled/import", Form(Safetensors(W1, B1, W2, B2), Request, fileName));

        var problem = await Problems.ReadAsync(response, HttpStatusCode.UnsupportedMediaType);
        Assert.Contains("run arbitrary code", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("safetensors", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{}", "request.network")]
    [InlineData("""{"network": {"inputs": 1, "hidden": [4]}, "featureNames": ["a", "b"]}""", "request")]
    [InlineData("""{"network": {"inputs": 1, "hidden": [4]}, "inputStd": [0]}""", "request")]
    [InlineData("""{"network": {"hidden": [4]}}""", "request")]
    public async Task Bad_import_requests_get_a_validation_problem(string request, string field)
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsync("/models/badimport/import", Form(Safetensors(W1, B1, W2, B2), request));

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"no error for '{field}' in {problem}");
    }

    [Fact]
    public async Task Weights_that_give_nan_are_refused_and_nothing_is_kept()
    {
        var client = await factory.ReadyClientAsync();

        var created = await client.PostAsync("/models/broken/import", Form(Safetensors(W1, B1, [float.NaN, 0, 0, 0], B2), Request));

        var problem = await Problems.ReadAsync(created, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("NaN", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/models/broken")).StatusCode);
    }

    [Fact]
    public async Task Finite_weights_whose_outputs_overflow_fail_the_load_check_and_nothing_is_kept()
    {
        var client = await factory.ReadyClientAsync();

        var created = await client.PostAsync("/models/overflow/import", Form(Safetensors(W1, [3e38f, 3e38f, 3e38f, 3e38f], [3e38f, 3e38f, 3e38f, 3e38f], B2), Request));

        var problem = await Problems.ReadAsync(created, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("not finite", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/models/overflow")).StatusCode);
    }

    [Fact]
    public async Task An_input_that_makes_the_output_overflow_gives_a_422_problem_not_broken_json()
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/models/toy/predict", new { inputs = new[] { new[] { 3e38 } }, samples = 4 });

        var problem = await Problems.ReadAsync(response, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("not finite", problem.GetProperty("title").GetString(), StringComparison.Ordinal);
    }
}
