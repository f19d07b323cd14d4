/// Moralis `GET /erc20/{address}/price`: one token price object.
///
/// Documented shape (abridged): `{"tokenName", "tokenSymbol", "tokenDecimals", "nativePrice":
/// {"value", "decimals", "name", "symbol", "address"}, "usdPrice": 19.72, "usdPriceFormatted",
/// "exchangeName", "exchangeAddress", "tokenAddress", "toBlock", "24hrPercentChange", …}`.
/// `usdPrice` (a number) and `tokenAddress` are required; the record id is
/// `{chain}:{tokenAddress}@{toBlock}` so the same block's price always has the same id.
public enum MoralisParser: PayloadParsing {
    /// Parses a Moralis token price body.
    ///
    /// - Parameters:
    ///   - json: The decoded body.
    ///   - source: The polled source (`params.chain` goes into the id).
    /// - Returns: One record.
    /// - Throws: ``MalformedPayload`` when it is not an object, or `usdPrice` / `tokenAddress` is missing or mistyped.
    public static func records(from json: JSONValue, source: SourceDefinition) throws(MalformedPayload) -> [CollectedRecord] {
        guard case .object(let object) = json else {
            throw MalformedPayload("moralis: expected a price object, got \(json.typeName)")
        }
        guard let price = object["usdPrice"] else {
            throw MalformedPayload("moralis: missing usdPrice")
        }
        guard price.doubleValue != nil else {
            throw MalformedPayload("moralis: usdPrice must be a number, got \(price.typeName)")
        }
        guard let address = object["tokenAddress"]?.stringValue, !address.isEmpty else {
            throw MalformedPayload("moralis: missing tokenAddress")
        }
        let chain = source.params["chain"] ?? "eth"
        var id = "\(chain):\(address.lowercased())"
        if let block = object["toBlock"]?.scalarText, !block.isEmpty { id += "@\(block)" }
        var fields = PayloadParser.flatten(object, depth: 1)
        fields["chain"] = chain
        return [CollectedRecord(source: source.name, kind: .moralis, id: id, timestamp: nil, fields: fields)]
    }
}
