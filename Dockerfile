# The cdcpipeline service: build with the .NET SDK, run on the ASP.NET Core runtime image (Kestrel serves
# observability.port's /metrics, /healthz and /readyz; the plain runtime image lacks ASP.NET Core).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/CdcPipeline/CdcPipeline.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
# librdkafka ships inside the Confluent.Kafka package (runtimes/linux-x64/native); nothing else to install.
USER app
ENTRYPOINT ["dotnet", "cdcpipeline.dll"]
CMD ["run", "--config", "/config/pipeline.kafka.yaml"]
