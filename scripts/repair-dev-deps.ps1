<#
.SYNOPSIS
Uninstall the development-only packages that backend/scripts/check_dev_deps_in_runtime.py finds in
the runtime environment, and nothing else.

.DESCRIPTION
    .\scripts\repair-dev-deps.ps1 [-DryRun] [-Yes] [-Python PATH] [-Requirements F] [-DevRequirements F]

-DryRun lists what would be uninstalled and changes nothing; -Yes skips the confirmation. Without
-Yes it asks; an answer other than y/yes, or no answer at all (a redirected stdin at end of input),
means no. Exit: 0 nothing left to remove, 1 declined or packages remain, 2 the check could not run.
The interpreter is -Python, else $env:RUNTIME_PYTHON, else .venv\Scripts\python.exe (or
.venv/bin/python), else python.
#>
[CmdletBinding()]
param(
    [switch]$DryRun,
    [switch]$Yes,
    [string]$Python = $env:RUNTIME_PYTHON,
    [string]$Requirements,
    [string]$DevRequirements
)
$ErrorActionPreference = 'Stop'

$root = Split-Path -Parent $PSScriptRoot
$check = Join-Path $root 'backend/scripts/check_dev_deps_in_runtime.py'

if (-not $Python) {
    foreach ($candidate in @((Join-Path $root '.venv/Scripts/python.exe'), (Join-Path $root '.venv/bin/python'))) {
        if (Test-Path $candidate) { $Python = $candidate; break }
    }
}
if (-not $Python) { $Python = 'python' }

$checkArgs = @()
if ($Requirements) { $checkArgs += @('--requirements', $Requirements) }
if ($DevRequirements) { $checkArgs += @('--dev-requirements', $DevRequirements) }

function Invoke-Check {
    $output = & $Python $check @checkArgs
    return @{ Status = $LASTEXITCODE; Packages = @($output | Where-Object { $_ -and $_.Trim() }) }
}

$result = Invoke-Check
if ($result.Status -eq 0) {
    Write-Output "No development-only packages installed in $Python."
    exit 0
}
if ($result.Status -ne 1) {
    Write-Error "The dev-dependency check failed (exit $($result.Status)); nothing uninstalled." -ErrorAction Continue
    exit 2
}

$packages = $result.Packages
Write-Output "Development-only packages installed in ${Python}:"
$packages | ForEach-Object { Write-Output "  $_" }

if ($DryRun) {
    Write-Output 'Dry run: nothing uninstalled.'
    exit 1  # packages were found: not clean, like the check itself
}

if (-not $Yes) {
    if ([Console]::IsInputRedirected) {
        $answer = [Console]::In.ReadLine()
    } else {
        $answer = Read-Host "Uninstall these $($packages.Count) package(s)? [y/N]"
    }
    if ($null -eq $answer -or $answer.Trim() -notmatch '^(y|yes)$') {
        Write-Output 'Not confirmed: nothing uninstalled.'
        exit 1
    }
}

& $Python -m pip uninstall --yes --disable-pip-version-check @packages
if ($LASTEXITCODE -ne 0) { exit 2 }

$after = Invoke-Check
if ($after.Status -eq 0) {
    Write-Output 'Done: no development-only packages remain.'
    exit 0
}
Write-Error "Still installed after uninstalling: $($after.Packages -join ', ')" -ErrorAction Continue
exit 1
