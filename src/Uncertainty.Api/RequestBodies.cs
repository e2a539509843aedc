using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Uncertainty.Api;

/// <summary>Bodies that come as JSON or as multipart form data (a 'request' JSON part beside a file part), and one-field 400s.</summary>
internal static class RequestBodies
{
    /// <summary>
    /// The JSON body, or the multipart 'request' part (empty when absent) with the text of the 'data' file part
    /// handed to <paramref name="withData"/>. Throws <see cref="JsonException"/> for JSON that does not fit.
    /// </summary>
    public static async Task<T?> ReadJsonOrFormAsync<T>(HttpRequest http, Func<T, string, T> withData, CancellationToken cancellationToken)
    {
        var json = JsonOptions(http);
        if (!http.HasFormContentType)
        {
            return await http.ReadFromJsonAsync<T>(json, cancellationToken);
        }

        var form = await http.ReadFormAsync(cancellationToken);
        var text = form.TryGetValue("request", out var part) && !string.IsNullOrWhiteSpace(part) ? part.ToString() : "{}";
        var request = JsonSerializer.Deserialize<T>(text, json);
        if (request is not null && form.Files.GetFile("data") is { } file)
        {
            using var reader = new StreamReader(file.OpenReadStream());
            request = withData(request, await reader.ReadToEndAsync(cancellationToken));
        }

        return request;
    }

    /// <summary>The service's JSON settings (camelCase, strict numbers), for bodies read by hand.</summary>
    public static JsonSerializerOptions JsonOptions(HttpRequest http) =>
        http.HttpContext.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;

    /// <summary>What a <see cref="JsonException"/> says up to its JSON path; the line and byte positions after it add nothing.</summary>
    public static string Describe(JsonException exception) => exception.Message.Split(" | ")[0];

    /// <summary>A 400 validation problem for one field.</summary>
    public static ValidationProblem Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] });
}
