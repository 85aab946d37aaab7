using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client;

namespace BuildGrid.Hostile.Tests.Campaign;

/// <summary>
/// The gRPC requests: every method of every service compiled into BuildGrid.Protos (the domain services and the dialect
/// facades), found through the generated file descriptors, called on the host's gRPC listener through a real
/// <see cref="GrpcChannel"/> with messages built from the descriptors and filled with hostile values — and with bytes
/// that are no valid message at all (random, truncated, wrong wire types, a length past the end).
/// </summary>
public sealed class GrpcSurface(GrpcChannel channel, HostileValues hostile)
{
    public const int HostileMessagesPerMethod = 6;

    static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);

    /// <summary>The file descriptors of every proto compiled into the protos assembly.</summary>
    public static IReadOnlyList<FileDescriptor> Files() =>
        [.. typeof(BuildGrid.Projects.V1.Projects).Assembly.GetTypes()
            .Where(t => t.Name.EndsWith("Reflection", StringComparison.Ordinal))
            .Select(t => t.GetProperty("Descriptor")?.GetValue(null))
            .OfType<FileDescriptor>()
            .OrderBy(f => f.Name, StringComparer.Ordinal)];

    public static IReadOnlyList<MethodDescriptor> Methods() =>
        [.. Files().SelectMany(f => f.Services).SelectMany(s => s.Methods)];

    public IEnumerable<HostileRequest> Requests()
    {
        foreach (var method in Methods())
        {
            var mutating = !(method.Name.StartsWith("Get", StringComparison.Ordinal) || method.Name.StartsWith("List", StringComparison.Ordinal)
                || method.Name.StartsWith("Watch", StringComparison.Ordinal));
            HostileRequest Call(string what, byte[] payload, Metadata? headers = null) =>
                new("grpc", $"{method.FullName} {what} ({payload.Length} B)", mutating, (caller, ct) => CallAsync(method, payload, caller, headers, ct));

            yield return Call("empty message", []);
            for (var i = 0; i < HostileMessagesPerMethod; i++)
                yield return Call($"hostile message #{i}", Fill(method.InputType, depth: 0).ToByteArray());
            yield return Call("random bytes", hostile.Bytes(256));
            var valid = Fill(method.InputType, depth: 0).ToByteArray();
            yield return Call("truncated message", valid[..(valid.Length / 2)]);
            // Field 1 as a length-delimited value whose length runs far past the end; field 2 with a reserved wire type.
            yield return Call("length past the end", [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x41]);
            yield return Call("invalid wire type", [0x17, 0x01, 0x0F, 0x02]);
            yield return Call("hostile metadata", [], new Metadata
            {
                { "x-buildgrid-user", "admin' OR 1=1 --" },
                { "x-buildgrid-identity", "forged.token" },
                { "x-request-id", new string('r', 4000) },
                { "traceparent", "00-../../-zz-01" },
            });
        }
    }

    async Task<Outcome> CallAsync(MethodDescriptor method, byte[] payload, CallerProfile caller, Metadata? headers, CancellationToken ct)
    {
        var metadata = caller.Metadata();
        foreach (var entry in headers ?? [])
            metadata.Add(entry);
        var streaming = method.IsServerStreaming;
        var options = new CallOptions(metadata, DateTime.UtcNow.AddSeconds(streaming ? 3 : 15), ct);
        var invoker = channel.CreateCallInvoker();
        try
        {
            string body;
            if (method.IsClientStreaming)
            {
                var descriptor = new Method<byte[], byte[]>(method.IsServerStreaming ? MethodType.DuplexStreaming : MethodType.ClientStreaming,
                    method.Service.FullName, method.Name, Raw, Raw);
                using var call = invoker.AsyncDuplexStreamingCall(descriptor, null, options);
                await call.RequestStream.WriteAsync(payload, ct);
                await call.RequestStream.CompleteAsync();
                var count = 0;
                while (await call.ResponseStream.MoveNext(ct))
                    count++;
                body = $"{count} messages";
            }
            else if (streaming)
            {
                var descriptor = new Method<byte[], byte[]>(MethodType.ServerStreaming, method.Service.FullName, method.Name, Raw, Raw);
                using var call = invoker.AsyncServerStreamingCall(descriptor, null, options, payload);
                var count = 0;
                while (await call.ResponseStream.MoveNext(ct) && count < 1000)
                    count++;
                body = $"{count} messages";
            }
            else
            {
                var descriptor = new Method<byte[], byte[]>(MethodType.Unary, method.Service.FullName, method.Name, Raw, Raw);
                var reply = await invoker.AsyncUnaryCall(descriptor, null, options, payload);
                body = method.OutputType.Parser.ParseFrom(reply).ToString() ?? "";
            }
            return new Outcome(0, "grpc:OK", Rejected: false, ServerFault: false, body);
        }
        catch (RpcException e)
        {
            // A server-streaming call may follow a live log past the deadline; a unary call that does not answer hangs.
            var fault = e.StatusCode is StatusCode.Internal or StatusCode.Unknown or StatusCode.DataLoss or StatusCode.Unavailable
                || e.StatusCode == StatusCode.DeadlineExceeded && !streaming;
            return new Outcome((int)e.StatusCode, "grpc:" + e.StatusCode, Rejected: true, fault, e.Status.Detail);
        }
    }

    IMessage Fill(MessageDescriptor type, int depth)
    {
        var message = (IMessage)Activator.CreateInstance(type.ClrType)!;
        foreach (var field in type.Fields.InDeclarationOrder())
        {
            if (!hostile.Chance(0.7))
                continue;
            if (field.IsMap)
            {
                var map = (IDictionary)field.Accessor.GetValue(message);
                var key = Value(field.MessageType.FindFieldByNumber(1), depth);
                var value = Value(field.MessageType.FindFieldByNumber(2), depth);
                if (key is not null && value is not null)
                    map[key] = value;
            }
            else if (field.IsRepeated)
            {
                var list = (IList)field.Accessor.GetValue(message);
                if (hostile.Chance(0.1) && field.FieldType != FieldType.Message)
                {
                    // Many elements (each small: a 1 MB value is drawn only for single elements).
                    for (var i = 0; i < 2000; i++)
                        list.Add(field.FieldType == FieldType.String ? HostileValues.Strings[i % HostileValues.Strings.Length] : Value(field, depth)!);
                }
                else
                {
                    for (var i = hostile.Random.Next(1, 4); i > 0; i--)
                    {
                        if (Value(field, depth) is { } item)
                            list.Add(item);
                    }
                }
            }
            else if (Value(field, depth) is { } single)
                field.Accessor.SetValue(message, single);
        }
        return message;
    }

    object? Value(FieldDescriptor field, int depth) => field.FieldType switch
    {
        FieldType.String => hostile.String(),
        FieldType.Bytes => ByteString.CopyFrom(hostile.Chance(0.5) ? hostile.Pick(HostileValues.InvalidUtf8) : hostile.Bytes()),
        FieldType.Bool => hostile.Chance(0.5),
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => (int)hostile.Pick(HostileValues.Integers.Select(i => (long)(int)i).ToArray()),
        FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => hostile.Pick(HostileValues.Integers),
        FieldType.UInt32 or FieldType.Fixed32 => (uint)hostile.Pick(HostileValues.Integers),
        FieldType.UInt64 or FieldType.Fixed64 => (ulong)hostile.Pick(HostileValues.Integers),
        FieldType.Double => hostile.Pick([double.NaN, double.PositiveInfinity, -0.0, 1e308, -1.0]),
        FieldType.Float => hostile.Pick([float.NaN, float.NegativeInfinity, -1f]),
        FieldType.Enum => Enum.ToObject(field.EnumType.ClrType, hostile.Pick([-1, 999, 0, 1])),
        FieldType.Message => depth < 4 ? Fill(field.MessageType, depth + 1) : null,
        _ => null,
    };
}
