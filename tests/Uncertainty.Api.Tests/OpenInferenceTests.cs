using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Uncertainty.Api.Tests;

/// <summary>The Open Inference Protocol v2 over REST (/v2): health, metadata, inference through the /predict path, errors.</summary>
public sealed class OpenInferenceTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private const string Key = "k3y-for-tests-0123456789abcdef";

    internal static readonly string[] RegressionOutputs = ["mean", "epistemic_variance", "aleatoric_variance", "predictive_variance", "std", "standard_error", "interval_lower", "interval_upper"];

    /// <summary>The features of the first <paramref name="rows"/> example rows a model ships with (GET /models/{name}), and its feature names.</summary>
    internal static async Task<(float[][] Rows, string[] Features)> ExamplesAsync(HttpClient client, string model, int rows)
    {
        var details = await client.GetFromJsonAsync<JsonElement>($"/models/{model}");
        string[] features = [.. details.GetProperty("inputs").EnumerateArray().Select(name => name.GetString()!)];
        var examples = details.GetProperty("examples").GetProperty("inputs").EnumerateArray().Take(rows).Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        return (examples, features);
    }

    /// <summary>/models/{name}/predict's rows for the same inputs, seed and samples.</summary>
    internal static async Task<JsonElement> PredictAsync(HttpClient client, string model, object inputs, int samples, ulong seed, double? intervalLevel = null)
    {
        var response = await client.PostAsJsonAsync($"/models/{model}/predict", new { inputs, samples, seed, intervalLevel });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("predictions");
    }

    private static object Tensor(string name, string datatype, long[] shape, object data) => new { name, datatype, shape, data };

    private async Task<HttpResponseMessage> InferAsync(string path, object body)
    {
        var client = await factory.ReadyClientAsync();
        return await client.PostAsJsonAsync(path, body);
    }

    private static async Task<JsonElement> OkAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static JsonElement Output(JsonElement response, string name) =>
        response.GetProperty("outputs").EnumerateArray().Single(output => output.GetProperty("name").GetString() == name);

    private static double[] Numbers(JsonElement output) => [.. output.GetProperty("data").EnumerateArray().Select(v => v.GetDouble())];

    /// <summary>Asserts the protocol's error body and status, and returns the message.</summary>
    internal static async Task<string> ErrorAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Single(body.EnumerateObject());
        return body.GetProperty("error").GetString()!;
    }

    [Fact]
    public async Task Server_metadata_liveness_and_readiness_follow_the_protocol()
    {
        var client = await factory.ReadyClientAsync();

        var metadata = await client.GetFromJsonAsync<JsonElement>("/v2");
        var live = await client.GetAsync("/v2/health/live");
        var ready = await client.GetAsync("/v2/health/ready");

        Assert.Equal("uncertainty", metadata.GetProperty("name").GetString());
        Assert.False(string.IsNullOrEmpty(metadata.GetProperty("version").GetString()));
        Assert.Contains("parameters", metadata.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));
        Assert.True((await OkAsync(live)).GetProperty("live").GetBoolean());
        Assert.True((await OkAsync(ready)).GetProperty("ready").GetBoolean());
    }

    [Fact]
    public async Task Model_metadata_names_the_input_and_only_the_outputs_of_the_task()
    {
        var client = await factory.ReadyClientAsync();

        var boston = await client.GetFromJsonAsync<JsonElement>("/v2/models/boston");
        var digits = await client.GetFromJsonAsync<JsonElement>("/v2/models/digits/versions/1");
        var spam = await client.GetFromJsonAsync<JsonElement>("/v2/models/spam");
        var ready = await client.GetAsync("/v2/models/boston/versions/1/ready");

        Assert.Equal("boston", boston.GetProperty("name").GetString());
        Assert.Equal(["1"], boston.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        var input = boston.GetProperty("inputs").EnumerateArray().Single();
        Assert.Equal("input", input.GetProperty("name").GetString());
        Assert.Equal("FP32", input.GetProperty("datatype").GetString());
        Assert.Equal([-1L, 13], input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal(RegressionOutputs, boston.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()));
        Assert.All(boston.GetProperty("outputs").EnumerateArray(), o => Assert.Equal([-1L, 1], o.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64())));

        var outputs = digits.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        Assert.Equal([-1L, 10], outputs["probabilities"].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal("BYTES", outputs["label"].GetProperty("datatype").GetString());
        Assert.Equal([-1L], outputs["mutual_information"].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.DoesNotContain("interval_lower", outputs.Keys);
        Assert.Equal("BYTES", spam.GetProperty("inputs")[0].GetProperty("datatype").GetString());
        Assert.True((await OkAsync(ready)).GetProperty("ready").GetBoolean());
    }

    [Theory]
    [InlineData("deterministic", "gaussian")]
    [InlineData("mc", "quantile")]
    public async Task Mode_and_interval_parameters_give_the_numbers_of_predict_with_the_same_options(string mode, string interval)
    {
        var client = await factory.ReadyClientAsync();
        var (rows, _) = await ExamplesAsync(client, "boston", 2);

        var response = await OkAsync(await client.PostAsJsonAsync("/v2/models/boston/infer", new
        {
            parameters = new { samples = 30, seed = 77, mode, interval, interval_level = 0.8 },
            inputs = new[] { Tensor("input", "FP32", [2, 13], rows.SelectMany(r => r).ToArray()) },
        }));
        var predicted = await client.PostAsJsonAsync("/models/boston/predict", new { inputs = rows, samples = 30, seed = 77, mode, interval, intervalLevel = 0.8 });
        Assert.Equal(HttpStatusCode.OK, predicted.StatusCode);
        var expected = (await predicted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("predictions");

        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("mean")[0].GetDouble()), Numbers(Output(response, "mean")));
        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("interval").GetProperty("lower")[0].GetDouble()), Numbers(Output(response, "interval_lower")));
        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("interval").GetProperty("upper")[0].GetDouble()), Numbers(Output(response, "interval_upper")));
        var names = response.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()).ToList();
        if (mode == "deterministic")
        {
            // One pass: no spread across passes, so no Monte Carlo standard error.
            Assert.DoesNotContain("standard_error", names);
            Assert.All(Numbers(Output(response, "epistemic_variance")), v => Assert.Equal(0, v));
        }
        else
        {
            Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("standardError")[0].GetDouble()), Numbers(Output(response, "standard_error")));
        }
    }

    [Fact]
    public async Task Regressor_inference_gives_exactly_the_numbers_of_predict_for_the_same_seed()
    {
        var client = await factory.ReadyClientAsync();
        var (rows, _) = await ExamplesAsync(client, "boston", 3);

        var response = await OkAsync(await client.PostAsJsonAsync("/v2/models/boston/infer", new
        {
            id = "request-1",
            parameters = new { samples = 40, seed = 1234, interval_level = 0.9 },
            inputs = new[] { Tensor("input", "FP32", [3, 13], rows.SelectMany(r => r).ToArray()) },
        }));
        var expected = await PredictAsync(client, "boston", rows, 40, 1234, 0.9);

        Assert.Equal("boston", response.GetProperty("model_name").GetString());
        Assert.Equal("1", response.GetProperty("model_version").GetString());
        Assert.Equal("request-1", response.GetProperty("id").GetString());
        Assert.Equal(40, response.GetProperty("parameters").GetProperty("samples").GetInt32());
        Assert.Equal(1234UL, response.GetProperty("parameters").GetProperty("seed").GetUInt64());
        Assert.Equal(RegressionOutputs, response.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()));
        Assert.All(response.GetProperty("outputs").EnumerateArray(), o =>
        {
            Assert.Equal("FP64", o.GetProperty("datatype").GetString());
            Assert.Equal([3L, 1], o.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        });
        string[] fields = ["mean", "epistemicVariance", "aleatoricVariance", "predictiveVariance", "std"];
        foreach (var (output, field) in RegressionOutputs.Zip(fields))
        {
            Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty(field)[0].GetDouble()), Numbers(Output(response, output)));
        }

        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("interval").GetProperty("lower")[0].GetDouble()), Numbers(Output(response, "interval_lower")));
        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("interval").GetProperty("upper")[0].GetDouble()), Numbers(Output(response, "interval_upper")));
    }

    [Fact]
    public async Task Classifier_inference_gives_exactly_the_numbers_of_predict_and_only_the_requested_outputs()
    {
        var client = await factory.ReadyClientAsync();
        var (rows, _) = await ExamplesAsync(client, "digits", 2);

        var response = await OkAsync(await client.PostAsJsonAsync("/v2/models/digits/infer", new
        {
            parameters = new { samples = 30, seed = 99 },
            // Nested data, as the shape: the protocol allows both.
            inputs = new[] { Tensor("input", "FP64", [2, rows[0].Length], rows) },
            outputs = new[] { new { name = "probabilities" }, new { name = "label" }, new { name = "mutual_information" } },
        }));
        var expected = await PredictAsync(client, "digits", rows, 30, 99);

        Assert.Equal(["probabilities", "label", "mutual_information"], response.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()));
        var probabilities = Output(response, "probabilities");
        Assert.Equal([2L, 10], probabilities.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal(expected.EnumerateArray().SelectMany(row => row.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble())), Numbers(probabilities));
        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("label").GetString()), Output(response, "label").GetProperty("data").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("mutualInformation").GetDouble()), Numbers(Output(response, "mutual_information")));
    }

    [Fact]
    public async Task One_tensor_per_feature_gives_the_same_numbers_as_one_input_tensor()
    {
        var client = await factory.ReadyClientAsync();
        var (rows, features) = await ExamplesAsync(client, "boston", 2);
        var parameters = new { samples = 20, seed = 5 };

        var whole = await OkAsync(await client.PostAsJsonAsync("/v2/models/boston/infer", new { parameters, inputs = new[] { Tensor("input", "FP32", [2, 13], rows) } }));
        var byFeature = await OkAsync(await client.PostAsJsonAsync("/v2/models/boston/infer", new
        {
            parameters,
            // Shuffled order, [N] and [N, 1] shapes mixed: tensors are matched by name.
            inputs = features.Select((name, f) => (name, f)).Reverse().Select(x => Tensor(x.name, "FP32", x.f % 2 == 0 ? [2] : [2, 1], rows.Select(r => r[x.f]).ToArray())).ToArray(),
        }));

        Assert.Equal(Numbers(Output(whole, "mean")), Numbers(Output(byFeature, "mean")));
        Assert.Equal(Numbers(Output(whole, "epistemic_variance")), Numbers(Output(byFeature, "epistemic_variance")));
    }

    [Fact]
    public async Task A_text_model_reads_a_bytes_tensor_of_texts_as_predict_reads_strings()
    {
        var client = await factory.ReadyClientAsync();
        string[] texts = ["Subject: win a free prize now, click here", "Subject: minutes of the meeting on tuesday"];

        var response = await OkAsync(await client.PostAsJsonAsync("/v2/models/spam/infer", new
        {
            parameters = new { samples = 10, seed = 3 },
            inputs = new[] { Tensor("input", "BYTES", [2], texts) },
            outputs = new[] { new { name = "probabilities" } },
        }));
        var expected = await PredictAsync(client, "spam", texts, 10, 3);

        Assert.Equal(expected.EnumerateArray().SelectMany(row => row.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble())), Numbers(Output(response, "probabilities")));
    }

    [Theory]
    [InlineData("/v2/models/boston/infer", """{"inputs":[{"name":"input","datatype":"FP32","shape":[1,12],"data":[1,2,3,4,5,6,7,8,9,10,11,12]}]}""", "inputs[0].shape")]
    [InlineData("/v2/models/boston/infer", """{"inputs":[{"name":"input","datatype":"FP32","shape":[2,13],"data":[1,2,3]}]}""", "inputs[0].shape")]
    [InlineData("/v2/models/boston/infer", """{"inputs":[{"name":"input","datatype":"BOOL","shape":[1,1],"data":[true]}]}""", "inputs[0].datatype")]
    [InlineData("/v2/models/boston/infer", """{"inputs":[{"name":"input","datatype":"BYTES","shape":[1,13],"data":["a","b","c","d","e","f","g","h","i","j","k","l","m"]}]}""", "inputs[0].datatype")]
    [InlineData("/v2/models/boston/infer", """{"inputs":[{"name":"input","datatype":"INT64","shape":[1,13],"data":[1,2,3,4,5,6,7,8,9,10,11,12,13.5]}]}""", "inputs[0].data[12]")]
    [InlineData("/v2/models/toy/infer", """{"parameters":{"sampels":10},"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}]}""", "parameters.sampels")]
    [InlineData("/v2/models/toy/infer", """{"parameters":{"seed":9007199254740992},"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}]}""", "parameters.seed")]
    [InlineData("/v2/models/toy/infer", """{"parameters":{"samples":0},"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}]}""", "parameters.samples")]
    [InlineData("/v2/models/toy/infer", """{"parameters":{"samples":20000},"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}]}""", "parameters.samples:")]
    [InlineData("/v2/models/toy/infer", """{"parameters":{"interval_level":1},"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}]}""", "parameters.interval_level:")]
    [InlineData("/v2/models/toy/infer", """{"parameters":{"tolerance":"NaN"},"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}]}""", "parameters.tolerance:")]
    [InlineData("/v2/models/toy/infer", """{"parameters":{"mode":"fast"},"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}]}""", "parameters.mode")]
    [InlineData("/v2/models/toy/infer", """{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}],"outputs":[{"name":"probabilities"}]}""", "outputs[0].name")]
    [InlineData("/v2/models/toy/infer", """{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}],"outputs":[{"name":"mean","parameters":{"binary_data":true}}]}""", "outputs[0].parameters.binary_data")]
    [InlineData("/v2/models/toy/infer", """{"inputs":[{"name":"x","datatype":"FP32","shape":[1,1],"data":[0.5]},{"name":"y","datatype":"FP32","shape":[1,1],"data":[0.5]}]}""", "inputs[1].name")]
    [InlineData("/v2/models/toy/infer", """{"inputs":[]}""", "inputs")]
    [InlineData("/v2/models/toy/infer", """{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[1e300]}]}""", "row 0[0]")]
    [InlineData("/v2/models/toy/infer", """{"inputs":[{"name":"input","datatype":"FP64","shape":[1,1],"data":[1e309]}]}""", "inputs[0].data[0]")]
    [InlineData("/v2/models/toy/infer", """{"inputs":[{"name":"input","datatype":"FP32","shape":[1000000000000,1],"data":[0.5]}]}""", "more than 2147483647 elements")]
    [InlineData("/v2/models/spam/infer", """{"inputs":[{"name":"input","datatype":"INT64","shape":[4,4611686018427387909],"data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}]}""", "inputs[0].shape")]
    [InlineData("/v2/models/toy/infer", """{"inputs":[{"name":"input","datatype":"FP32","shape":[4,4611686018427387904],"data":[]}]}""", "inputs[0].shape: Shape")]
    [InlineData("/v2/models/toy/infer", """{"inputs":[{"name":"x","datatype":"FP64","shape":[2],"data":[0.5,-1e400]}]}""", "inputs[0].data[1]")]
    public async Task Bad_requests_get_400_with_the_protocols_error_naming_the_field(string path, string json, string field)
    {
        var response = await InferAsync(path, JsonNode.Parse(json)!);

        var error = await ErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains(field, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_without_a_json_content_type_is_read_as_json()
    {
        var client = await factory.ReadyClientAsync();
        // KServe's InferenceRESTClient posts bytes with no content type; curl -d says form-urlencoded.
        var bare = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"parameters":{"seed":3},"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}]}"""));
        var form = new StringContent("""{"parameters":{"seed":3},"inputs":[{"name":"input","datatype":"FP32","shape":[1,1],"data":[0.5]}]}""", Encoding.UTF8, "application/x-www-form-urlencoded");

        var fromBare = await OkAsync(await client.PostAsync("/v2/models/toy/infer", bare));
        var fromForm = await OkAsync(await client.PostAsync("/v2/models/toy/infer", form));

        Assert.Equal(Numbers(Output(fromBare, "mean")), Numbers(Output(fromForm, "mean")));
    }

    [Fact]
    public async Task Malformed_json_unknown_models_and_versions_get_the_protocols_error()
    {
        var client = await factory.ReadyClientAsync();

        var malformed = await client.PostAsync("/v2/models/toy/infer", new StringContent("{\"inputs\": [", Encoding.UTF8, "application/json"));
        var unknownModel = await client.GetAsync("/v2/models/nope");
        var unknownVersion = await client.PostAsJsonAsync("/v2/models/toy/versions/9/infer", new { inputs = new[] { Tensor("input", "FP32", [1, 1], new[] { 0.5 }) } });
        var notANumber = await client.GetAsync("/v2/models/toy/versions/latest/ready");

        await ErrorAsync(malformed, HttpStatusCode.BadRequest);
        Assert.Contains("nope", await ErrorAsync(unknownModel, HttpStatusCode.NotFound), StringComparison.Ordinal);
        Assert.Contains("version 9", await ErrorAsync(unknownVersion, HttpStatusCode.NotFound), StringComparison.Ordinal);
        await ErrorAsync(notANumber, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Inference_takes_the_keys_and_scopes_of_predict()
    {
        using var keyed = new UncertaintyApiFactory();
        keyed.Settings["Uncertainty:ApiKeys:0"] = Key;
        keyed.Settings["Uncertainty:RequireApiKeyForInference"] = "true";
        var client = await keyed.ReadyClientAsync();
        var body = new { inputs = new[] { Tensor("input", "FP32", [1, 1], new[] { 0.5 }) } };

        var without = await client.PostAsJsonAsync("/v2/models/toy/infer", body);
        using var wrongRequest = new HttpRequestMessage(HttpMethod.Post, "/v2/models/toy/infer") { Content = JsonContent.Create(body) };
        wrongRequest.Headers.Add("X-Api-Key", "wrong-key-0123456789abcdef");
        var wrong = await client.SendAsync(wrongRequest);
        using var rightRequest = new HttpRequestMessage(HttpMethod.Post, "/v2/models/toy/infer") { Content = JsonContent.Create(body) };
        rightRequest.Headers.Add("X-Api-Key", Key);
        var right = await client.SendAsync(rightRequest);
        var metadata = await client.GetAsync("/v2/models/toy");

        Assert.Contains("X-Api-Key", await ErrorAsync(without, HttpStatusCode.Unauthorized), StringComparison.Ordinal);
        await ErrorAsync(wrong, HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal(HttpStatusCode.OK, metadata.StatusCode); // metadata is open, as GET /models/{name} is
    }
}
