using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Uncertainty.Api.Predictions;

namespace Uncertainty.Api.Tests;

/// <summary>
/// What generated clients rely on: seeds that every JSON client holds exactly (0..2^53 - 1, chosen, accepted and
/// declared so), and multipart bodies described as they are sent (a binary file part and a 'request' JSON part).
/// </summary>
public sealed class ClientContractTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private const ulong MaxSeed = 9007199254740991; // 2^53 - 1, JavaScript's Number.MAX_SAFE_INTEGER

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task Server_chosen_seeds_stay_within_2_to_the_53_and_replay_the_same_numbers()
    {
        var client = await factory.ReadyClientAsync();
        var seeds = new List<ulong>();

        // A uniform 64-bit seed is above 2^53 - 1 with probability 1 - 2^-11; 64 draws all below it by chance: 2^-704.
        for (int i = 0; i < 64; i++)
        {
            seeds.Add((await PredictAsync(client, new { inputs = new[] { new[] { 0.5 } }, samples = 2 })).Seed);
        }

        var first = await PredictAsync(client, new { inputs = new[] { new[] { 0.5 } }, samples = 50 });
        var replay = await PredictAsync(client, new { inputs = new[] { new[] { 0.5 } }, samples = 50, seed = first.Seed });

        Assert.All(seeds, seed => Assert.InRange(seed, 0UL, MaxSeed));
        Assert.True(seeds.Distinct().Count() > 60, "fresh seeds are drawn per request");
        Assert.Equal(first.Seed, replay.Seed);
        Assert.Equal(first.Predictions[0].Mean, replay.Predictions[0].Mean);
        Assert.Equal(first.Predictions[0].EpistemicVariance, replay.Predictions[0].EpistemicVariance);
    }

    [Fact]
    public async Task The_largest_seed_is_accepted_and_returned_as_it_was_sent()
    {
        var client = await factory.ReadyClientAsync();

        var response = await PredictAsync(client, new { inputs = new[] { new[] { 0.5 } }, samples = 5, seed = MaxSeed });

        Assert.Equal(MaxSeed, response.Seed);
    }

    [Theory]
    [InlineData("/models/toy/predict", """{"inputs": [[0.5]], "seed": 9007199254740992}""", "seed")]
    [InlineData("/models/toy/predict", """{"inputs": [[0.5]], "seed": 18446744073709551615}""", "seed")]
    [InlineData("/models/toy/evaluate", """{"inputs": [[0.5]], "targets": [0.4], "seed": 9007199254740992}""", "seed")]
    [InlineData("/training-jobs", """{"model": "seeded", "dataset": "boston", "training": {"epochs": 1, "seed": 9007199254740992}}""", "training.seed")]
    public async Task A_seed_above_2_to_the_53_minus_1_is_a_400_naming_the_field(string path, string json, string field)
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"no error for '{field}' in {problem}");
    }

    [Fact]
    public async Task Every_seed_in_the_document_is_an_int64_from_0_to_2_to_the_53_minus_1()
    {
        var document = await DocumentAsync();
        var seeds = document["components"]!["schemas"]!.AsObject()
            .SelectMany(schema => (schema.Value!["properties"]?.AsObject() ?? []).Where(p => p.Key == "seed").Select(p => ($"{schema.Key}.seed", p.Value!)))
            .Concat(document["paths"]!.AsObject().SelectMany(path => path.Value!.AsObject())
                .SelectMany(operation => operation.Value!["parameters"]?.AsArray() ?? [])
                .Where(parameter => (string?)parameter!["name"] == "seed").Select(parameter => ("query seed", parameter!["schema"]!)))
            .ToList();

        Assert.True(seeds.Count >= 6, $"only {seeds.Count} seeds in the document");
        Assert.All(seeds, seed =>
        {
            Assert.Equal("int64", (string?)seed.Item2["format"]);
            Assert.Equal(0UL, (ulong)seed.Item2["minimum"]!);
            Assert.Equal(MaxSeed, (ulong)seed.Item2["maximum"]!);
        });
    }

    [Theory]
    [InlineData("/models/{name}/import", "weights", true, "request", false)]
    [InlineData("/training-jobs", "data", false, "request", true)]
    [InlineData("/models/{name}/evaluate", "data", false, "request", true)]
    [InlineData("/models/{name}/predict/image", "image", true, null, false)]
    public async Task Multipart_bodies_are_described_as_a_binary_file_part_and_a_json_request_part(string path, string file, bool fileRequired, string? request, bool alsoJson)
    {
        var document = await DocumentAsync();
        var content = document["paths"]![path]!["post"]!["requestBody"]!["content"]!.AsObject();
        var form = content["multipart/form-data"]!;
        var properties = form["schema"]!["properties"]!.AsObject();
        var required = form["schema"]!["required"]?.AsArray().Select(name => (string?)name).ToList() ?? [];

        Assert.Equal("string", (string?)properties[file]!["type"]);
        Assert.Equal("binary", (string?)properties[file]!["format"]);
        Assert.Equal(fileRequired, required.Contains(file));
        Assert.Equal(request is null ? 1 : 2, properties.Count);
        if (request is not null)
        {
            Assert.StartsWith("#/components/schemas/", (string?)properties[request]!["$ref"]);
            Assert.Equal("application/json", (string?)form["encoding"]![request]!["contentType"]);
        }

        Assert.Equal(alsoJson, content.ContainsKey("application/json"));
    }

    private async Task<JsonNode> DocumentAsync()
    {
        var client = await factory.ReadyClientAsync();
        return JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
    }

    private static async Task<PredictResponse> PredictAsync(HttpClient client, object body)
    {
        var response = await client.PostAsJsonAsync("/models/toy/predict", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<PredictResponse>(Json))!;
    }
}
