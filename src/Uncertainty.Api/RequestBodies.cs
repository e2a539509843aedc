using System.Text.Json;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Problems;

namespace Uncertainty.Api;

/// <summary>
/// Bodies read by hand: JSON, or multipart form data (a 'request' JSON part beside a file part). Anything
/// malformed becomes a 400 or 415 naming the problem, never a 500.
/// </summary>
internal static class RequestBodies
{
    /// <summary>
    /// The JSON body, or the multipart 'request' part (empty when absent) with the text of the 'data' file part
    /// handed to <paramref name="withData"/>.
    /// </summary>
    public static async Task<T> ReadJsonOrFormAsync<T>(HttpRequest http, Func<T, string, T> withData, string what, CancellationToken cancellationToken)
        where T : class
    {
        if (http.HasFormContentType)
        {
            var form = await ReadFormAsync(http, cancellationToken);
            var text = form.TryGetValue("request", out var part) && !string.IsNullOrWhiteSpace(part) ? part.ToString() : "{}";
            var request = Deserialize<T>(http, text, "request", what);
            if (form.Files.GetFile("data") is { } file)
            {
                using var reader = new StreamReader(file.OpenReadStream());
                request = withData(request, await reader.ReadToEndAsync(cancellationToken));
            }

            return request;
        }

        if (!http.HasJsonContentType())
        {
            throw new UnsupportedMediaTypeException("Unsupported media type", $"Send {what} as application/json, or as multipart/form-data with a 'request' JSON part; got '{http.ContentType ?? "no Content-Type"}'.");
        }

        try
        {
            return await http.ReadFromJsonAsync<T>(JsonOptions(http), cancellationToken)
                ?? throw new RequestValidationException("request", $"The body is empty; send {what}.");
        }
        catch (JsonException e)
        {
            var error = JsonContract.Describe(e);
            throw new RequestValidationException(error.Field, error.Message);
        }
    }

    /// <summary>A multipart form; malformed bodies (no boundary, unterminated, too many parts, ...) are a 400 that says why.</summary>
    public static async Task<IFormCollection> ReadFormAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        try
        {
            return await http.ReadFormAsync(cancellationToken);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException or IOException && e is not BadHttpRequestException && !cancellationToken.IsCancellationRequested)
        {
            throw new RequestValidationException("body", $"The multipart form data cannot be read: {e.Message}");
        }
    }

    /// <summary>A JSON text (a multipart part) as <typeparamref name="T"/>; a 400 naming <paramref name="field"/> when it does not fit.</summary>
    public static T Deserialize<T>(HttpRequest http, string text, string field, string what)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(text, JsonOptions(http))
                ?? throw new RequestValidationException(field, $"The '{field}' part is empty; send {what}.");
        }
        catch (JsonException e)
        {
            var error = JsonContract.Describe(e, field);
            throw new RequestValidationException(error.Field, error.Message);
        }
    }

    /// <summary>The service's JSON settings (camelCase, strict numbers), for bodies read by hand.</summary>
    public static JsonSerializerOptions JsonOptions(HttpRequest http) =>
        http.HttpContext.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
}
