using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace Uncertainty.Api.Tests;

/// <summary>
/// The JSON contract: fields a body does not have are refused by their JSON path, enums are camelCase strings (numbers
/// refused), no 400 names a .NET type, a network read from GET /models/{name} imports again, and the OpenAPI document
/// describes every operation, parameter and property with the statuses and headers the service answers.
/// </summary>
public sealed partial class ContractTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private const string BostonRow = "[0.00632, 18.0, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98]";

    private const string SmallNetwork = """{"inputs": 1, "hidden": [4], "hiddenDropout": [0.1], "head": {"tau": 4}}""";

    [Theory]
    [InlineData("POST", "/predict", $$"""{"inputs": [{{BostonRow}}], "sampels": 5}""", "sampels")]
    [InlineData("POST", "/models/boston/predict", $$"""{"inputs": [{{BostonRow}}], "samples": 5, "intervalLvl": 0.9}""", "intervalLvl")]
    [InlineData("POST", "/models/boston/versions/1/predict", $$"""{"inputs": [{{BostonRow}}], "sampels": 5}""", "sampels")]
    [InlineData("POST", "/models/boston/forecast", """{"history": [1, 2, 3], "lastDate": "2020-01-01", "sampels": 5}""", "sampels")]
    [InlineData("POST", "/models/boston/evaluate", """{"dataset": "boston", "sampels": 5}""", "sampels")]
    [InlineData("PUT", "/models/boston/default-version", """{"version": 1, "force": true}""", "force")]
    [InlineData("POST", "/training-jobs", """{"model": "m", "dataset": "boston", "sampels": 5}""", "sampels")]
    [InlineData("POST", "/training-jobs", """{"model": "m", "dataset": "boston", "training": {"epochs": 1, "optimiser": "adam"}}""", "training.optimiser")]
    [InlineData("POST", "/training-jobs", """{"model": "m", "dataset": "boston", "network": {"hidden": [4], "dropout": 0.1}}""", "network.dropout")]
    [InlineData("POST", "/training-jobs", """{"model": "m", "dataset": "boston", "training": {"image": {"height": 8, "width": 8, "maxShfit": 1}}}""", "training.image.maxShfit")]
    public async Task An_unknown_field_is_refused_by_its_json_path(string method, string path, string body, string field)
    {
        var client = await factory.ReadyClientAsync();

        using var response = await SendJsonAsync(client, method, path, body);

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        var name = field.Split('.')[^1];
        Assert.Contains($"Unknown field '{name}'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains($"Unknown field '{name}'", problem.GetProperty("errors").GetProperty(field)[0].GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/models/toy/predict", """{"inputs": [[0.5]], "inputs": [[0.7]]}""", "inputs")]
    [InlineData("/models/toy/predict", """{"inputs": [[0.5]], "Inputs": [[0.7]]}""", "Inputs")]
    [InlineData("/models/toy/predict", """{"inputs": [[0.5]], "seed": 1, "seed": 2}""", "seed")]
    [InlineData("/v2/models/toy/infer", """{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1], "data": [0.5]}], "parameters": {"seed": 1, "seed": 2}}""", "parameters.seed")]
    public async Task A_field_given_twice_is_refused_by_name(string path, string body, string field)
    {
        var client = await factory.ReadyClientAsync();

        using var response = await SendJsonAsync(client, "POST", path, body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains($"{field}", text, StringComparison.Ordinal);
        Assert.Contains("more than once", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_field_in_the_import_request_part_is_refused_under_request()
    {
        var client = await factory.ReadyClientAsync();

        using var response = await client.PostAsync("/models/contract-unknown/import", Form(Weights(), $$"""{"network": {{SmallNetwork}}, "featureNames": ["x"], "targetMeen": [1]}"""));

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.StartsWith("Unknown field 'targetMeen' (did you mean 'targetMean'?)", problem.GetProperty("errors").GetProperty("request.targetMeen")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_training_job_takes_its_task_as_a_string_and_reports_its_state_in_camel_case()
    {
        var client = await factory.ReadyClientAsync();

        using var response = await client.PostAsync("/training-jobs", Json("""{"model": "contract-task", "dataset": "breast_cancer", "task": "classification", "network": {"hidden": [4], "activation": "tanh", "dropoutKind": "inverted"}, "training": {"epochs": 1, "optimizer": "sgd", "schedule": "constant"}}"""));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(job.GetProperty("state").GetString(), new[] { "queued", "running", "succeeded" });
    }

    [Theory]
    [InlineData("""{"model": "m", "dataset": "boston", "task": 1}""", "task", "'regression', 'classification'")]
    [InlineData("""{"model": "m", "dataset": "boston", "network": {"activation": 0}}""", "network.activation", "'relu', 'tanh'")]
    [InlineData("""{"model": "m", "dataset": "boston", "network": {"dropoutKind": 1}}""", "network.dropoutKind", "'inverted', 'standard'")]
    [InlineData("""{"model": "m", "dataset": "boston", "training": {"optimizer": 1}}""", "training.optimizer", "'sgd', 'adam', 'adamW'")]
    [InlineData("""{"model": "m", "dataset": "boston", "network": {"layers": [{"type": 0}]}}""", "network.layers[0].type", "'linear', 'conv2d'")]
    public async Task An_enum_given_as_a_number_is_refused_with_the_strings_it_takes(string body, string field, string names)
    {
        var client = await factory.ReadyClientAsync();

        using var response = await client.PostAsync("/training-jobs", Json(body));

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        var message = problem.GetProperty("errors").GetProperty(field)[0].GetString()!;
        Assert.Contains($"Field '{field}' must be one of the strings {names}", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Model_details_write_enums_as_camel_case_strings()
    {
        var client = await factory.ReadyClientAsync();

        var model = await client.GetFromJsonAsync<JsonElement>("/models/boston");

        var network = model.GetProperty("network");
        Assert.Equal("inverted", network.GetProperty("dropoutKind").GetString());
        Assert.Equal("regression", network.GetProperty("head").GetProperty("kind").GetString());
        Assert.Equal("regression", model.GetProperty("task").GetString());
    }

    [Theory]
    [InlineData("POST", "/predict", """{"inputs": [[1]], "samples": "many"}""", "samples", "an integer")]
    [InlineData("POST", "/predict", """{"inputs": [[1]], "seed": -1}""", "seed", "a non-negative integer")]
    [InlineData("POST", "/predict", """{"inputs": [[1]], "returnSamples": 3}""", "returnSamples", "true or false")]
    [InlineData("POST", "/predict", """{"inputs": 5}""", "inputs", "an array")]
    [InlineData("POST", "/predict", """[1, 2]""", "body", "an object")]
    [InlineData("POST", "/models/boston/forecast", """{"history": [1], "lastDate": "2020-13-01"}""", "lastDate", "a date (yyyy-MM-dd)")]
    [InlineData("POST", "/models/boston/forecast", """{"history": ["a"], "lastDate": "2020-01-01"}""", "history[0]", "a number")]
    [InlineData("PUT", "/models/boston/default-version", """{"version": "2"}""", "version", "an integer")]
    [InlineData("POST", "/models/boston/evaluate", """{"dataset": "boston", "maxRows": 1.5}""", "maxRows", "an integer")]
    [InlineData("POST", "/training-jobs", """{"model": "m", "dataset": "boston", "features": [1]}""", "features[0]", "a string")]
    [InlineData("POST", "/training-jobs", """{"model": "m", "dataset": "boston", "training": {"epochs": "x"}}""", "training.epochs", "an integer")]
    [InlineData("POST", "/training-jobs", """{"model": "m", "dataset": "boston", "network": {"hidden": 4}}""", "network.hidden", "an array of integers")]
    [InlineData("POST", "/training-jobs", """{"model": "m", "dataset": "boston", "network": {"layers": [{"type": "linear", "out": "3"}]}}""", "network.layers[0].out", "an integer")]
    public async Task A_value_of_the_wrong_type_is_named_by_field_and_plain_words(string method, string path, string body, string field, string expected)
    {
        var client = await factory.ReadyClientAsync();

        using var response = await SendJsonAsync(client, method, path, body);

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        var message = problem.GetProperty("errors").GetProperty(field)[0].GetString()!;
        Assert.Contains($"must be {expected}", message, StringComparison.Ordinal);
        AssertNoTypeNames(problem);
    }

    [Theory]
    [InlineData("POST", "/predict", "{\"inputs\": [[1]],")]
    [InlineData("POST", "/predict", "{\"inputs\": [[1]], \"samples\": 1e400}")]
    [InlineData("POST", "/predict", "{\"inputs\": [[1]], \"samples\": 2147483648}")]
    [InlineData("POST", "/predict", "{\"inputs\": [[1]], \"intervalLevel\": \"0.9\"}")]
    [InlineData("POST", "/models/boston/predict", "null")]
    [InlineData("POST", "/training-jobs", "{\"model\": \"m\", \"dataset\": \"boston\", \"network\": {\"layers\": [{\"out\": 3}]}}")]
    [InlineData("POST", "/training-jobs", "{\"model\": \"m\", \"dataset\": \"boston\", \"network\": {\"layers\": [{\"type\": \"linear\", \"return\": 2}]}}")]
    [InlineData("POST", "/training-jobs", "{\"model\": \"m\", \"dataset\": \"boston\", \"training\": 5}")]
    [InlineData("POST", "/models/boston/evaluate", "{\"inputs\": {\"a\": 1}}")]
    [InlineData("PUT", "/models/boston/default-version", "[]")]
    public async Task No_bad_request_names_a_dotnet_type(string method, string path, string body)
    {
        var client = await factory.ReadyClientAsync();

        using var response = await SendJsonAsync(client, method, path, body);

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        AssertNoTypeNames(problem);
        Assert.True(problem.TryGetProperty("errors", out var errors) && errors.EnumerateObject().Any(), problem.GetRawText());
    }

    [Fact]
    public async Task A_query_parameter_of_the_wrong_type_is_named_in_plain_words()
    {
        var client = await factory.ReadyClientAsync();
        using var form = new MultipartFormDataContent { { new ByteArrayContent([1, 2, 3]), "image", "a.png" } };

        using var response = await client.PostAsync("/models/digits/predict/image?samples=many", form);

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("Parameter 'samples' must be an integer; got 'many'.", problem.GetProperty("errors").GetProperty("samples")[0].GetString());
        AssertNoTypeNames(problem);
    }

    [Fact]
    public async Task A_network_read_from_get_models_imports_again_with_its_computed_fields()
    {
        var client = await factory.ReadyClientAsync();
        using var first = await client.PostAsync("/models/contract-source/import", Form(Weights(), $$"""{"network": {{SmallNetwork}}, "featureNames": ["x"], "outputNames": ["y"]}"""));
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var network = (await client.GetFromJsonAsync<JsonObject>("/models/contract-source"))!["network"]!;
        Assert.NotNull(network["headWidth"]); // written by GET, so a copy carries it back

        var request = new JsonObject { ["network"] = network.DeepClone(), ["featureNames"] = new JsonArray("x"), ["outputNames"] = new JsonArray("y") };
        using var copy = await client.PostAsync("/models/contract-copy/import", Form(Weights(), request.ToJsonString()));

        Assert.Equal(HttpStatusCode.Created, copy.StatusCode);
        var copied = (await client.GetFromJsonAsync<JsonObject>("/models/contract-copy"))!["network"]!;
        Assert.Equal(network.ToJsonString(), copied.ToJsonString());
    }

    [Fact]
    public async Task The_document_describes_every_operation_parameter_and_property()
    {
        var document = await DocumentAsync();
        var missing = new List<string>();

        foreach (var (path, operations) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in operations!.AsObject())
            {
                if (string.IsNullOrWhiteSpace(operation!["description"]?.GetValue<string>()) || string.IsNullOrWhiteSpace(operation["summary"]?.GetValue<string>()))
                {
                    missing.Add($"{method} {path}");
                }

                missing.AddRange((operation["parameters"]?.AsArray() ?? []).Where(p => p!["description"] is null).Select(p => $"{method} {path} parameter {p!["name"]}"));
            }
        }

        foreach (var (name, schema) in document["components"]!["schemas"]!.AsObject())
        {
            foreach (var (property, value) in schema!["properties"]?.AsObject() ?? [])
            {
                if (!Described(value!))
                {
                    missing.Add($"{name}.{property}");
                }
            }
        }

        Assert.True(missing.Count == 0, "No description: " + string.Join(", ", missing));
    }

    [Fact]
    public async Task The_document_gives_enums_as_strings_and_the_headers_of_429_503_and_202()
    {
        var document = await DocumentAsync();
        var schemas = document["components"]!["schemas"]!;
        var paths = document["paths"]!;

        Assert.Equal(["regression", "classification"], schemas["TaskKind"]!["enum"]!.AsArray().Select(v => v?.GetValue<string>()));
        // Where a request may leave it out, the property (not the shared enum) allows null: oneOf [null, TaskKind].
        Assert.Contains("null", schemas["TrainingJobRequest"]!["properties"]!["task"]!["oneOf"]!.AsArray().Select(v => v!["type"]?.GetValue<string>()));
        Assert.Equal(["queued", "running", "succeeded", "failed", "cancelled"], schemas["JobState"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Contains("numbers are refused", schemas["HeadKind"]!["description"]!.GetValue<string>(), StringComparison.Ordinal);
        var submit = paths["/training-jobs"]!["post"]!["responses"]!;
        Assert.NotNull(submit["202"]!["headers"]!["Location"]);
        Assert.NotNull(submit["429"]!["headers"]!["Retry-After"]);
        var predict = paths["/predict"]!["post"]!["responses"]!;
        foreach (var status in new[] { "400", "404", "413", "415", "422", "429", "503", "504" })
        {
            Assert.NotNull(predict[status]!["content"]!["application/problem+json"]);
        }

        Assert.NotNull(predict["503"]!["headers"]!["Retry-After"]);
        var submitProblems = submit.AsObject().Where(r => r.Key.StartsWith('4')).Select(r => r.Key);
        Assert.Equal(["400", "401", "403", "409", "413", "415", "422", "429"], submitProblems.Order());
    }

    private async Task<JsonNode> DocumentAsync()
    {
        var client = await factory.ReadyClientAsync();
        return JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
    }

    /// <summary>A property's description sits on it, or on its referenced schema's branch of a nullable oneOf.</summary>
    private static bool Described(JsonNode property) =>
        property["description"] is not null || (property["oneOf"]?.AsArray() ?? []).Any(branch => branch?["description"] is not null);

    private static void AssertNoTypeNames(JsonElement problem)
    {
        var text = problem.GetRawText();
        Assert.False(DotnetTypeName().IsMatch(text), text);
    }

    [GeneratedRegex(@"System\.|Uncertainty\.|Microsoft\.|`1|Nullable|Int32|Int64|UInt64|Double|Boolean|JsonElement|IReadOnlyList")]
    private static partial Regex DotnetTypeName();

    private static Task<HttpResponseMessage> SendJsonAsync(HttpClient client, string method, string path, string body) =>
        client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = Json(body) });

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static MultipartFormDataContent Form(byte[] weights, string request) => new()
    {
        { new StringContent(request, Encoding.UTF8, "application/json"), "request" },
        { new ByteArrayContent(weights), "weights", "model.safetensors" },
    };

    /// <summary>Weights of a 1-4-1 network as PyTorch's nn.Sequential(Linear, ReLU, Dropout, Linear) saves them.</summary>
    private static byte[] Weights()
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>
        {
            ["0.weight"] = tensor(new[] { 1.0f, -2.0f, 0.5f, 3.0f }).reshape(4, 1),
            ["0.bias"] = tensor(new[] { 0.1f, 0.2f, -0.3f, 0.0f }),
            ["3.weight"] = tensor(new[] { 0.7f, -0.4f, 1.5f, 0.25f }).reshape(1, 4),
            ["3.bias"] = tensor(new[] { -0.05f }),
        };
        using var file = new MemoryStream();
        TorchSharp.PyBridge.Safetensors.SaveStateDict(file, tensors, leaveOpen: true);
        return file.ToArray();
    }
}
