using Google.Protobuf;

namespace Engine.Pretrained.Onnx;

/// <summary>One field of a protobuf message: its number and either a varint/fixed value or a slice of the message.</summary>
internal readonly record struct ProtoField(int Number, WireFormat.WireType WireType, ulong Value, ArraySegment<byte> Bytes);

/// <summary>
/// Walks the fields of one protobuf message held in a byte array with Google.Protobuf's <see cref="CodedInputStream"/>.
/// Length-delimited fields (nested messages, strings, ONNX's raw tensor data) come out as slices of the same array,
/// so the 90 MB of weights in a model are never copied while the structure is read. We read the handful of ONNX
/// fields the engine needs by number (onnx.proto) instead of generating code for the whole schema.
/// </summary>
internal static class ProtoFields
{
    /// <exception cref="InvalidProtocolBufferException">The bytes are not a protobuf message.</exception>
    public static IEnumerable<ProtoField> Read(ArraySegment<byte> message)
    {
        var input = new CodedInputStream(message.Array!, message.Offset, message.Count);
        // Position counts from wherever the stream says it starts; positions below are taken relative to that origin.
        long origin = input.Position;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            int number = WireFormat.GetTagFieldNumber(tag);
            var wireType = WireFormat.GetTagWireType(tag);
            switch (wireType)
            {
                case WireFormat.WireType.Varint:
                    yield return new ProtoField(number, wireType, input.ReadUInt64(), default);
                    break;
                case WireFormat.WireType.Fixed32:
                    yield return new ProtoField(number, wireType, input.ReadFixed32(), default);
                    break;
                case WireFormat.WireType.Fixed64:
                    yield return new ProtoField(number, wireType, input.ReadFixed64(), default);
                    break;
                case WireFormat.WireType.LengthDelimited:
                {
                    // Skipping reads the length and moves past the payload, which then ends at the new position.
                    int lengthAt = message.Offset + (int)(input.Position - origin);
                    input.SkipLastField();
                    int end = message.Offset + (int)(input.Position - origin);
                    int start = lengthAt + VarintSize(message.Array!, lengthAt);
                    yield return new ProtoField(number, wireType, 0, new ArraySegment<byte>(message.Array!, start, end - start));
                    break;
                }
                default:
                    input.SkipLastField();
                    break;
            }
        }
    }

    /// <summary>The UTF-8 string of a length-delimited field.</summary>
    public static string String(ProtoField field) => System.Text.Encoding.UTF8.GetString(field.Bytes);

    /// <summary>
    /// The values of a repeated integer field, which writers store packed (one length-delimited field) or not (one
    /// varint field per value); <paramref name="into"/> collects both forms.
    /// </summary>
    public static void AddVarints(ProtoField field, List<long> into)
    {
        if (field.WireType == WireFormat.WireType.Varint) { into.Add((long)field.Value); return; }
        var input = new CodedInputStream(field.Bytes.Array!, field.Bytes.Offset, field.Bytes.Count);
        while (!input.IsAtEnd) into.Add(input.ReadInt64());
    }

    static int VarintSize(byte[] buffer, int at)
    {
        int size = 1;
        while ((buffer[at + size - 1] & 0x80) != 0) size++;
        return size;
    }
}
