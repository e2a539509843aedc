using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Uncertainty.Api.OpenApi;

/// <summary>Whether a multipart body has a 'request' JSON part beside its file.</summary>
public enum RequestPart
{
    /// <summary>The file is the whole body (its options travel in the query).</summary>
    None,

    /// <summary>A 'request' JSON part may come with the file.</summary>
    Optional,

    /// <summary>A 'request' JSON part must come with the file.</summary>
    Required,
}

/// <summary>
/// Endpoint metadata for a body read by hand as multipart form data: one file part and, per <see cref="Request"/>,
/// a 'request' part holding the JSON of the type the endpoint's Accepts names.
/// </summary>
/// <param name="FilePart">The file part's name.</param>
/// <param name="FileDescription">What the file holds.</param>
/// <param name="FileRequired">Whether the file part must be sent.</param>
/// <param name="Request">Whether a 'request' JSON part comes with it.</param>
public sealed record MultipartBody(string FilePart, string FileDescription, bool FileRequired, RequestPart Request);

/// <summary>
/// Describes multipart bodies as they are sent: a binary file property (a file picker in Swagger UI, a FileParameter
/// in NSwag's clients) and a 'request' property encoded as application/json, beside the other content types the
/// endpoint accepts. Without it the document shows the request type's fields as form fields, which no handler reads.
/// </summary>
public static class MultipartBodies
{
    private const string FormData = "multipart/form-data";

    /// <summary>Marks an endpoint's multipart body as a file part plus, per <paramref name="request"/>, a 'request' JSON part.</summary>
    public static TBuilder WithMultipartBody<TBuilder>(this TBuilder builder, string filePart, string fileDescription, bool fileRequired, RequestPart request)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new MultipartBody(filePart, fileDescription, fileRequired, request));

    /// <summary>Adds the transformers that describe each <see cref="MultipartBody"/> endpoint's form as it is sent.</summary>
    public static OpenApiOptions AddMultipartBodies(this OpenApiOptions options)
    {
        options.AddOperationTransformer((operation, context, _) =>
        {
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<MultipartBody>().FirstOrDefault() is { } body
                && operation.RequestBody?.Content is { } content && content.TryGetValue(FormData, out var form))
            {
                // The type the endpoint's Accepts names (a component reference) becomes the 'request' part's schema.
                content[FormData] = Describe(body, form.Schema);
            }

            return Task.CompletedTask;
        });

        // A file-only body leaves Accepts' IFormFile schema unreferenced.
        options.AddDocumentTransformer((document, _, _) =>
        {
            if (document.Components?.Schemas?.ContainsKey(nameof(IFormFile)) == true && !References(document, nameof(IFormFile)))
            {
                document.Components.Schemas.Remove(nameof(IFormFile));
            }

            return Task.CompletedTask;
        });
        return options;
    }

    private static OpenApiMediaType Describe(MultipartBody body, IOpenApiSchema? request)
    {
        var schema = new OpenApiSchema
        {
            Type = JsonSchemaType.Object,
            Properties = new Dictionary<string, IOpenApiSchema>(StringComparer.Ordinal)
            {
                [body.FilePart] = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary", Description = body.FileDescription },
            },
            Required = new HashSet<string>(StringComparer.Ordinal),
        };
        if (body.FileRequired)
        {
            schema.Required.Add(body.FilePart);
        }

        var media = new OpenApiMediaType { Schema = schema };
        if (body.Request != RequestPart.None && request is not null)
        {
            schema.Properties["request"] = request;
            if (body.Request == RequestPart.Required)
            {
                schema.Required.Add("request");
            }

            media.Encoding = new Dictionary<string, OpenApiEncoding>(StringComparer.Ordinal) { ["request"] = new() { ContentType = "application/json" } };
        }

        return media;
    }

    private static bool References(OpenApiDocument document, string id) =>
        document.Paths.Values.SelectMany(path => path.Operations?.Values.AsEnumerable() ?? [])
            .SelectMany(operation => operation.RequestBody?.Content?.Values ?? [])
            .Any(media => media.Schema is OpenApiSchemaReference { Reference.Id: var referenced } && referenced == id);
}
