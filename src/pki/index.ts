/**
 * PKI tooling (the library behind `securesense pki`): see pki.ts for the certificate profile and
 * files.ts for the on-disk layout. docs/pki.md is the user's guide.
 */
export { type CaFiles, caFilePaths, issuedFilePaths, readCaDir, writeCaDir, writeIssued } from './files.ts';
export {
  type CaMaterial,
  type CertAndKey,
  type CreateCaOptions,
  createCa,
  describeCertificate,
  generateKeyPem,
  generatePsk,
  type IssuedCertificate,
  type IssueOptions,
  issueCertificate,
  rawPublicKey,
  type Validity,
} from './pki.ts';
