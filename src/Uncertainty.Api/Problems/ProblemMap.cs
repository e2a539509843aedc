using System.Globalization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Uncertainty.Api.Problems;

/// <summary>
/// The one map from failures to HTTP answers, for every route and protocol: each exception kind has one
/// status. Client errors are logged at Warning without a stack trace; only unexpected failures are errors.
/// </summary>
public static class ProblemMap
{
    /// <summary>The answer to <paramref name="exception"/>: status, title, detail, field errors and Retry-After.</summary>
    public static Problem Describe(Exception exception) => exception switch
    {
        RequestValidationException e => new(StatusCodes.Status400BadRequest, e.Title, e.Message) { Errors = e.Errors },
        NotFoundException e => new(StatusCodes.Status404NotFound, e.Title, e.Message),
        ForbiddenException e => new(StatusCodes.Status403Forbidden, e.Title, e.Message),
        ConflictException e => new(StatusCodes.Status409Conflict, e.Title, e.Message),
        PayloadTooLargeException e => new(StatusCodes.Status413PayloadTooLarge, e.Title, e.Message),
        UnsupportedMediaTypeException e => new(StatusCodes.Status415UnsupportedMediaType, e.Title, e.Message),
        UnprocessableException e => new(StatusCodes.Status422UnprocessableEntity, e.Title, e.Message),
        QueueFullException e => new(StatusCodes.Status429TooManyRequests, e.Title, e.Message) { RetryAfterSeconds = e.RetryAfterSeconds },
        ServiceUnavailableException e => new(StatusCodes.Status503ServiceUnavailable, e.Title, e.Message) { RetryAfterSeconds = e.RetryAfterSeconds },
        ModelUnavailableException e => new(StatusCodes.Status503ServiceUnavailable, e.Title, e.Message),
        WorkTimeoutException e => new(StatusCodes.Status504GatewayTimeout, e.Title, e.Message),
        NonFiniteOutputException e => new(StatusCodes.Status422UnprocessableEntity, e.Title, e.Message),

        // Kestrel and the framework: unreadable or oversized bodies, malformed multipart.
        // Their messages name .NET types ("System.Int32"); the client gets the JSON field and the expected value in words.
        BadHttpRequestException { InnerException: System.Text.Json.JsonException json } e => BodyProblem(e.StatusCode, JsonContract.Describe(json)),
        BadHttpRequestException { StatusCode: StatusCodes.Status400BadRequest } e when JsonContract.DescribeBinding(e.Message) is { } binding => BodyProblem(e.StatusCode, binding),
        BadHttpRequestException e => new(e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Request body too large" : "Bad request", e.Message),
        System.Text.Json.JsonException e => BodyProblem(StatusCodes.Status400BadRequest, JsonContract.Describe(e)),
        InvalidDataException e => new(StatusCodes.Status400BadRequest, "Bad request", $"The request body cannot be read: {e.Message}"),
        _ => new(StatusCodes.Status500InternalServerError, "Internal server error", "An unexpected error occurred; it has been logged.") { Unexpected = true },
    };

    private static Problem BodyProblem(int status, JsonContract.BodyError error) =>
        new(status, "One or more validation errors occurred.", $"The request is not valid: {error.Message}") { Errors = new Dictionary<string, string[]> { [error.Field] = [error.Message] } };

    /// <summary>What the service answers for one failure.</summary>
    public sealed record Problem(int Status, string Title, string Detail)
    {
        public IDictionary<string, string[]>? Errors { get; init; }

        public int? RetryAfterSeconds { get; init; }

        /// <summary>Not a failure the service knows: logged as an error with its stack trace.</summary>
        public bool Unexpected { get; init; }

        public ProblemDetails ToProblemDetails() => Errors is { } errors
            ? new HttpValidationProblemDetails(errors) { Status = Status, Title = Title, Detail = Detail }
            : new ProblemDetails { Status = Status, Title = Title, Detail = Detail };
    }

    /// <summary>Writes <paramref name="problem"/> as application/problem+json, with Retry-After when it has one.</summary>
    public static async Task WriteAsync(HttpContext context, Problem problem, Exception? exception = null)
    {
        context.Response.StatusCode = problem.Status;
        if (problem.RetryAfterSeconds is { } seconds)
        {
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = problem.ToProblemDetails(),
        });
    }
}

/// <summary>Every exception that leaves an endpoint becomes the problem <see cref="ProblemMap"/> gives it.</summary>
public sealed partial class ProblemExceptionHandler(ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
        {
            return true; // the client went away: nobody to answer
        }

        var problem = ProblemMap.Describe(exception);
        if (problem.Unexpected)
        {
            Log.Unexpected(logger, httpContext.Request.Method, httpContext.Request.Path, exception);
        }
        else
        {
            Log.Answered(logger, httpContext.Request.Method, httpContext.Request.Path, problem.Status, problem.Detail);
        }

        // The exception is left out of the context: the problem body must not carry stack traces or server paths.
        await ProblemMap.WriteAsync(httpContext, problem);
        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "{Method} {Path} answered {Status}: {Detail}")]
        public static partial void Answered(ILogger logger, string method, string path, int status, string detail);

        [LoggerMessage(EventId = 1002, Level = LogLevel.Error, Message = "{Method} {Path} failed unexpectedly")]
        public static partial void Unexpected(ILogger logger, string method, string path, Exception exception);
    }
}

/// <summary>OpenAPI: the problem statuses an endpoint group can answer, all as application/problem+json.</summary>
public static class ProblemMetadata
{
    public static TBuilder ProducesServiceProblems<TBuilder>(this TBuilder builder, params int[] statuses)
        where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statuses)
        {
            builder.WithMetadata(new ProducesResponseTypeAttribute(
                status == StatusCodes.Status400BadRequest ? typeof(HttpValidationProblemDetails) : typeof(ProblemDetails),
                status,
                "application/problem+json"));
        }

        return builder;
    }
}
