using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Uncertainty.Api.Tests;

/// <summary>
/// Seeded fuzzing over every operation in the OpenAPI document: bad path values, bodies of the wrong shape,
/// broken JSON, hostile strings. Whatever comes in, the answer is never a 5xx and every 4xx is a problem document.
/// </summary>
public sealed class OpenApiFuzzTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private const int CasesPerOperation = 30;

    private static readonly string[] HostileStrings =
    [
        "", " ", "toy\n", "..", "../../etc/passwd", "%00", "a\u0000b", "<img src=x onerror=alert(1)>", "\u202e", "Ω≈ç√",
        new string('a', 300), "-1", "0", "2147483648", "1e400", "NaN", "null", "true", "{}", "[]", "toy%0a",
    ];

    [Fact]
    public async Task Generated_bad_requests_never_get_a_5xx_and_every_4xx_is_a_problem()
    {
        var client = await factory.ReadyClientAsync();
        var document = JsonNode.Parse(await client.GetStringAsync("/openapi/v1.json"))!;
        var random = new Random(20261202);
        var failures = new List<string>();
        int sent = 0;

        foreach (var (template, operations) in document["paths"]!.AsObject())
        {
            foreach (var (method, _) in operations!.AsObject())
            {
                for (int i = 0; i < CasesPerOperation; i++)
                {
                    var path = FillPath(template, random);
                    using var request = new HttpRequestMessage(new HttpMethod(method.ToUpperInvariant()), path);
                    if (method is "post" or "put")
                    {
                        request.Content = Body(random);
                    }

                    using var response = await client.SendAsync(request);
                    sent++;
                    var status = (int)response.StatusCode;
                    var type = response.Content.Headers.ContentType?.MediaType;
                    // The Open Inference Protocol's routes answer errors in its own shape, {"error": "..."}.
                    var problemType = template.StartsWith("/v2", StringComparison.Ordinal) ? "application/json" : "application/problem+json";
                    if (status >= 500 || (status >= 400 && type != problemType))
                    {
                        failures.Add($"{method.ToUpperInvariant()} {path} [{await Describe(request)}] -> {status} {type}: {Truncate(await response.Content.ReadAsStringAsync())}");
                    }
                }
            }
        }

        Assert.True(sent > 200, $"only {sent} requests were generated");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    private static string FillPath(string template, Random random) =>
        System.Text.RegularExpressions.Regex.Replace(template, @"\{(\w+)(:\w+)?\}", match => random.Next(4) switch
        {
            0 => "toy",
            1 => random.Next(-3, 5).ToString(System.Globalization.CultureInfo.InvariantCulture),
            // A NUL never reaches routing (servers refuse it in the request line), so paths leave it out.
            _ => Uri.EscapeDataString(HostileStrings[random.Next(HostileStrings.Length)].Replace("\u0000", "", StringComparison.Ordinal)).Replace("%2500", "", StringComparison.Ordinal),
        });

    private static HttpContent Body(Random random)
    {
        switch (random.Next(6))
        {
            case 0:
                return new StringContent(Truncate((RandomJson(random, 3)?.ToJsonString() ?? "null"), 100_000)[..^1], Encoding.UTF8, "application/json"); // cut short
            case 1:
                return new StringContent(HostileStrings[random.Next(HostileStrings.Length)], Encoding.UTF8, random.Next(2) == 0 ? "application/json" : "text/plain");
            case 2:
                var form = new MultipartFormDataContent
                {
                    { new StringContent((RandomJson(random, 3)?.ToJsonString() ?? "null"), Encoding.UTF8, "application/json"), "request" },
                    { new ByteArrayContent([.. Enumerable.Range(0, random.Next(0, 64)).Select(_ => (byte)random.Next(256))]), random.Next(2) == 0 ? "weights" : "data", "f.safetensors" },
                };
                return form;
            default:
                return new StringContent(RandomObject(random, 3).ToJsonString(), Encoding.UTF8, "application/json");
        }
    }

    /// <summary>An object with the service's own field names holding values of random types, plus unknown fields.</summary>
    private static JsonObject RandomObject(Random random, int depth)
    {
        string[] fields = ["inputs", "samples", "seed", "tolerance", "intervalLevel", "returnSamples", "version", "model", "dataset", "csv", "target", "targets", "network", "training", "makeDefault", "replaceSchema", "hidden", "epochs", "sampels"];
        var result = new JsonObject();
        foreach (var field in fields.Where(_ => random.Next(3) == 0))
        {
            result[field] = RandomJson(random, depth - 1);
        }

        return result;
    }

    private static JsonNode? RandomJson(Random random, int depth) => random.Next(depth <= 0 ? 5 : 8) switch
    {
        0 => null,
        1 => JsonValue.Create(random.Next(-5, 100_000)),
        2 => JsonValue.Create(random.NextDouble() * Math.Pow(10, random.Next(-5, 300))),
        3 => JsonValue.Create(HostileStrings[random.Next(HostileStrings.Length)]),
        4 => JsonValue.Create(random.Next(2) == 0),
        5 => new JsonArray([.. Enumerable.Range(0, random.Next(0, 4)).Select(_ => RandomJson(random, depth - 1))]),
        6 => new JsonArray([.. Enumerable.Range(0, random.Next(0, 3)).Select(_ => (JsonNode?)new JsonArray([.. Enumerable.Range(0, random.Next(0, 14)).Select(_ => (JsonNode?)JsonValue.Create(random.NextDouble()))]))]),
        _ => RandomObject(random, depth - 1),
    };

    private static async Task<string> Describe(HttpRequestMessage request) =>
        request.Content is null ? "" : Truncate(request.Content is MultipartFormDataContent ? "multipart" : await request.Content.ReadAsStringAsync());

    private static string Truncate(string text, int length = 300) => text.Length <= length ? text : text[..length] + "...";
}
